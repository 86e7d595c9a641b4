package livegraph

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// The metric families the page shows: the runtime's telemetry, read
// from the run's registry as /metrics serves it.
const (
	edgeMessages = "flowrun_edge_messages_total"
	edgeBuffered = "flowrun_edge_buffered"
	edgeCapacity = "flowrun_edge_capacity"
	edgeBlocked  = "flowrun_edge_blocked_seconds_total"
	stageDemand  = "flowrun_stage_demand"
	stageErrors  = "flowrun_stage_errors_total"
	stageDur     = "flowrun_stage_duration_seconds"
	stageCount   = stageDur + "_count" // messages timed (sinks: writes)
	stageSeconds = stageDur + "_sum"
)

// key names one series of one flow: an edge's (a=from, b=to) or a stage's (a).
type key struct{ name, a, b string }

// sample is every series of one flow at one time.
type sample struct {
	at time.Time
	v  map[key]float64
}

// gather reads the flow's series from g.
func gather(g prometheus.Gatherer, flow string) (*sample, error) {
	s := &sample{at: time.Now(), v: map[key]float64{}}
	mfs, err := g.Gather()
	if err != nil {
		return nil, err
	}
	for _, mf := range mfs {
		name := mf.GetName()
		switch name {
		case edgeMessages, edgeBuffered, edgeCapacity, edgeBlocked, stageDemand, stageErrors, stageDur:
		default:
			continue
		}
		for _, m := range mf.GetMetric() {
			labels := map[string]string{}
			for _, l := range m.GetLabel() {
				labels[l.GetName()] = l.GetValue()
			}
			if labels["flow"] != flow {
				continue
			}
			k := key{name: name, a: labels["from"], b: labels["to"]}
			if k.a == "" {
				k.a = labels["stage"]
			}
			switch {
			case m.GetCounter() != nil:
				s.v[k] = m.GetCounter().GetValue()
			case m.GetGauge() != nil:
				s.v[k] = m.GetGauge().GetValue()
			case m.GetHistogram() != nil:
				h := m.GetHistogram()
				s.v[key{name: stageCount, a: k.a}] = float64(h.GetSampleCount())
				s.v[key{name: stageSeconds, a: k.a}] = h.GetSampleSum()
			}
		}
	}
	return s, nil
}
