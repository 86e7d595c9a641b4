package schema

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/runtime"
	"github.com/prometheus/client_golang/prometheus"
)

// metricsFlow touches every node kind (source, processors, batch, sink,
// dead letter), so a run of it creates every metric the runtime exports.
const metricsFlow = `version: 1
name: reference
source: {generate: {count: 2, payload: counter}}
stages:
  - filter: payload > 1
  - batch: {size: 1, timeout: 1ms}
sink: {drop: {}}
dead_letter: {drop: {}}
`

// RuntimeMetrics returns the metric families the runtime exports, by
// name, as a short run of a built-in flow creates them. It needs the
// generate and drop connectors registered.
func RuntimeMetrics() ([]Metric, error) {
	f, ds := dsl.Parse("reference.yaml", []byte(metricsFlow), func(string) (string, bool) { return "", false })
	if len(ds) > 0 {
		return nil, fmt.Errorf("metrics flow: %w", ds.Err())
	}
	flow, ds := compiler.Compile(f)
	if flow == nil {
		return nil, fmt.Errorf("metrics flow: %w", ds.Err())
	}
	reg := prometheus.NewRegistry()
	p := runtime.New(flow, runtime.Options{Metrics: reg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if _, err := p.Run(context.Background()); err != nil {
		return nil, fmt.Errorf("metrics flow: %w", err)
	}
	families, err := reg.Gather()
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	var out []Metric
	for _, fam := range families {
		if len(fam.GetMetric()) == 0 {
			continue
		}
		var labels []string
		for _, l := range fam.GetMetric()[0].GetLabel() {
			labels = append(labels, l.GetName())
		}
		out = append(out, Metric{Name: fam.GetName(), Type: strings.ToLower(fam.GetType().String()),
			Help: fam.GetHelp(), Labels: labels})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	if len(out) == 0 {
		return nil, errors.New("metrics: the runtime exported none")
	}
	return out, nil
}
