package runtime_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowrun/flowrun/runtime"
	"github.com/prometheus/client_golang/prometheus"
)

func TestCapacityGaugeCoversAllLanes(t *testing.T) {
	newSource(t, "cap", `{"k":1}`)
	newSink(t, "cap-out")
	reg := prometheus.NewRegistry()
	flow := compile(t, "version: 1\nname: cap\nsource: {tsrc: {name: cap}}\nconcurrency: 4\nmax_demand: 8\npartition_by: payload.k\nsink: {tsink: {name: cap-out}}\n")
	if _, err := runtime.New(flow, runtime.Options{Metrics: reg}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got := metricValue(t, reg, `flowrun_edge_capacity{flow="cap",from="source",to="processors"}`); got != 32 {
		t.Fatalf("capacity %v, want 32", got)
	}
}

// A slow sink is backpressure: processors wait on the full sink edge, which
// is counted in flowrun_edge_blocked_seconds_total and seen as buffer_full.
func TestBackpressureIsMeasuredOnTheFullEdge(t *testing.T) {
	src := newSource(t, "bp")
	src.endless = true
	sink := newSink(t, "bp-out")
	sink.delay = 5 * time.Millisecond
	reg := prometheus.NewRegistry()
	var full atomic.Int64
	obs := runtime.ObserverFunc(func(e runtime.Event) {
		if e.Kind == runtime.EventBufferFull && e.From == "processors" && e.To == "sink" {
			full.Add(1)
		}
	})
	flow := compile(t, "version: 1\nname: bp\nsource: {tsrc: {name: bp}}\nconcurrency: 2\nmax_demand: 4\nsink: {tsink: {name: bp-out}}\n")
	blocked := func() float64 {
		return metricValue(t, reg, `flowrun_edge_blocked_seconds_total{flow="bp",from="processors",to="sink"}`)
	}
	// The series exists once the edge does, by the first buffer_full.
	runUntil(t, flow, runtime.Options{Metrics: reg, Observers: []runtime.Observer{obs}}, "a blocked send on the sink edge",
		func() bool { return full.Load() > 0 && blocked() > 0 })
}
