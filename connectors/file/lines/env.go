package lines

import (
	"errors"

	"github.com/flowrun/flowrun/registry"
	"github.com/prometheus/client_golang/prometheus"
)

// FromEnv fills the options a line source takes from the flow around it:
// logger, codec and the blank-line counter.
func FromEnv(opt Options, env registry.Env) Options {
	opt.Logger, opt.Codec = env.Logger, env.Codec
	if env.Metrics != nil {
		opt.BlankLines = blankLines(env.Metrics).WithLabelValues(env.Flow)
	}
	return opt
}

// blankLines is flowrun_source_blank_lines_total, shared by every line
// source of the process.
func blankLines(reg prometheus.Registerer) *prometheus.CounterVec {
	c := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flowrun_source_blank_lines_total",
		Help: "Blank lines a line source (file, stdin) skipped because the codec is json.",
	}, []string{"flow"})
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(*prometheus.CounterVec); ok {
				return existing
			}
		}
		panic(err) // a programming error: same name, other labels
	}
	return c
}
