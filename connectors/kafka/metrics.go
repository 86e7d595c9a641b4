package kafka

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

// lagGauge returns flowrun_source_lag, registered once per registry: every
// kafka source of the process shares it (flows differ by the flow label).
// Without a registry the gauge is kept but not exported.
func lagGauge(reg prometheus.Registerer) (*prometheus.GaugeVec, error) {
	g := prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "flowrun_source_lag",
		Help: "Messages in a Kafka partition after the committed offset of the flow's consumer group (high watermark minus committed offset), per partition this process owns.",
	}, []string{"flow", "topic", "partition"})
	if reg == nil {
		return g, nil
	}
	if err := reg.Register(g); err != nil {
		var already prometheus.AlreadyRegisteredError
		if errors.As(err, &already) {
			if existing, ok := already.ExistingCollector.(*prometheus.GaugeVec); ok {
				return existing, nil
			}
		}
		return nil, fmt.Errorf("kafka source: register flowrun_source_lag: %w", err)
	}
	return g, nil
}
