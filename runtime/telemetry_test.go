package runtime_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/flowrun/flowrun/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"
)

func init() {
	registry.RegisterStage(&registry.StageSpec{Name: "tpanic", Value: registry.Field{Type: registry.String},
		Build: func(_ *registry.Build, v any) (registry.Built, error) {
			return registry.Built{Step: panicStep(v.(string))}, nil
		}})
}

// panicStep panics on the message whose body equals it.
type panicStep string

func (p panicStep) Apply(_ *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
	if string(m.Raw) == string(p) {
		panic("boom")
	}
	return append(out, m), nil
}

func TestMetricsOfEveryEdgeAndStage(t *testing.T) {
	newSource(t, "mt", `{"a":1}`, `{"a":2}`, `{"a":3}`, `bad`)
	newSink(t, "mt-out")
	newSink(t, "mt-dlq")
	reg := prometheus.NewRegistry()
	flow := compile(t, `
version: 1
name: mt
source: {tsrc: {name: mt}}
stages:
  - filter: payload.a > 1
  - batch: {size: 10, timeout: 1h}
sink: {tsink: {name: mt-out}}
dead_letter: {tsink: {name: mt-dlq}}
`)
	if _, err := runtime.New(flow, runtime.Options{Metrics: reg}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for name, want := range map[string]float64{
		`flowrun_edge_messages_total{flow="mt",from="source",to="processors"}`:      4,
		`flowrun_edge_messages_total{flow="mt",from="processors",to="batch_1"}`:     2,
		`flowrun_edge_messages_total{flow="mt",from="batch_1",to="sink"}`:           2,
		`flowrun_edge_messages_total{flow="mt",from="processors",to="dead_letter"}`: 1,
		`flowrun_messages_total{flow="mt",outcome="acked"}`:                         2,
		`flowrun_messages_total{flow="mt",outcome="filtered"}`:                      1,
		`flowrun_messages_total{flow="mt",outcome="dead_lettered"}`:                 1,
		`flowrun_edge_buffered{flow="mt",from="source",to="processors"}`:            0,
		`flowrun_stage_demand{flow="mt",stage="processors"}`:                        float64(flow.Concurrency * min(128, flow.MaxDemand)), // every credit back; the window did not grow
	} {
		if got := metricValue(t, reg, name); got != want {
			t.Errorf("%s = %v, want %v", name, got, want)
		}
	}
	text := gather(t, reg)
	for _, name := range []string{"flowrun_edge_capacity", "flowrun_edge_blocked_seconds_total", "flowrun_stage_duration_seconds_bucket{flow=\"mt\",stage=\"filter_0\"",
		"flowrun_stage_errors_total", "flowrun_batch_size_bucket{flow=\"mt\",stage=\"batch_1\""} {
		if !strings.Contains(text, name) {
			t.Errorf("metric %s missing", name)
		}
	}
}

func gather(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			b.WriteString(mf.GetName())
			if mf.GetType().String() == "HISTOGRAM" {
				b.WriteString("_bucket")
			}
			b.WriteString("{")
			for i, l := range m.GetLabel() {
				if i > 0 {
					b.WriteString(",")
				}
				b.WriteString(l.GetName() + `="` + l.GetValue() + `"`)
			}
			b.WriteString("}\n")
		}
	}
	return b.String()
}

// metricValue reads one counter or gauge by its text form name{labels}.
func metricValue(t *testing.T, reg *prometheus.Registry, series string) float64 {
	t.Helper()
	name, labels, _ := strings.Cut(strings.TrimSuffix(series, "}"), "{")
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if !strings.Contains(labels, l.GetName()+`="`+l.GetValue()+`"`) {
					continue next
				}
			}
			if m.GetCounter() != nil {
				return m.GetCounter().GetValue()
			}
			return m.GetGauge().GetValue()
		}
	}
	t.Fatalf("no series %s", series)
	return 0
}

func TestObserverSeesRuntimeEvents(t *testing.T) {
	newSource(t, "ob", `1`, `2`, `x`)
	newSink(t, "ob-out")
	var mu sync.Mutex
	kinds := map[runtime.EventKind]int{}
	enqueued := 0
	obs := runtime.ObserverFunc(func(e runtime.Event) {
		mu.Lock()
		defer mu.Unlock()
		kinds[e.Kind]++
		if e.Kind == runtime.EventEnqueued && e.From == "source" {
			enqueued += e.Count
		}
	})
	flow := compile(t, "version: 1\nname: ob\nsource: {tsrc: {name: ob}}\nsink: {tsink: {name: ob-out}}\n")
	if _, err := runtime.New(flow, runtime.Options{Observers: []runtime.Observer{obs}}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, k := range []runtime.EventKind{runtime.EventDemand, runtime.EventEnqueued, runtime.EventStageStart,
		runtime.EventStageStop, runtime.EventStageException, runtime.EventNodeStart, runtime.EventNodeStop} {
		if kinds[k] == 0 {
			t.Errorf("no %s event (got %v)", k, kinds)
		}
	}
	if enqueued != 3 {
		t.Errorf("enqueued from source %d, want 3", enqueued)
	}
}

func TestPanicAndMemoryBudgetFailOneMessageOnly(t *testing.T) {
	src := newSource(t, "pm", `{"n":1}`, `{"n":2}`, `{"n":3}`)
	sink, dlq := newSink(t, "pm-out"), newSink(t, "pm-dlq")
	runFlow(t, `
version: 1
name: pm
source: {tsrc: {name: pm}}
stages:
  - tpanic: '{"n":2}'
  - map: 'payload.n == 3 ? map(1..2000000, # * 2) : payload.n'
sink: {tsink: {name: pm-out}}
dead_letter: {tsink: {name: pm-dlq}}
`)
	if got := sink.bodies(); len(got) != 1 || got[0] != "1" {
		t.Fatalf("sink %q", got)
	}
	stages := map[string]string{}
	for _, m := range dlq.messages() {
		stages[string(m.Body)] = m.Meta["error_stage"] + ": " + m.Meta["error"]
	}
	if !strings.HasPrefix(stages[`{"n":2}`], "tpanic_0: ") || !strings.Contains(stages[`{"n":3}`], "memory budget") {
		t.Fatalf("dead letters %v", stages)
	}
	if acked, _ := src.counts(); acked != 3 {
		t.Fatalf("acked %d", acked)
	}
}

func TestNoGoroutineLeftAfterRun(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	newSource(t, "lk", `{"a":1}`, `{"a":2}`)
	newSink(t, "lk-out")
	newSink(t, "lk-dlq")
	runFlow(t, `
version: 1
name: lk
source: {tsrc: {name: lk}}
partition_by: payload.a
middleware: [{throttle: {per_second: 1000}}]
stages:
  - batch: {size: 5, timeout: 10ms, key: payload.a}
sink: {tsink: {name: lk-out}}
dead_letter: {tsink: {name: lk-dlq}}
`)
	// and a run stopped from outside while the source is endless
	src := newSource(t, "lk2")
	src.endless = true
	newSink(t, "lk2-out")
	flow := compile(t, "version: 1\nname: lk2\nsource: {tsrc: {name: lk2}}\nsink: {tsink: {name: lk2-out}}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	if _, err := runtime.New(flow, runtime.Options{}).Run(ctx); err != nil {
		t.Fatal(err)
	}
}

// Stage durations are timed on one message in 8 and counted for all of
// them: a processor that handled 80 messages reports 80 filter and 70 map
// observations (the filter drops every 8th), in consistent cumulative
// buckets.
func TestStageDurationsCountEveryMessage(t *testing.T) {
	var bodies []string
	for i := range 80 {
		bodies = append(bodies, fmt.Sprintf(`{"a":%d}`, min(i%8, 1))) // every 8th filtered
	}
	newSource(t, "sd", bodies...)
	newSink(t, "sd-out")
	reg := prometheus.NewRegistry()
	flow := compile(t, `
version: 1
name: sd
source: {tsrc: {name: sd}}
concurrency: 1
stages:
  - filter: payload.a == 1
  - map: '{"b": payload.a}'
sink: {tsink: {name: sd-out}}
`)
	if _, err := runtime.New(flow, runtime.Options{Metrics: reg}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]uint64{}
	for _, mf := range mfs {
		if mf.GetName() != "flowrun_stage_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			h := m.GetHistogram()
			prev := uint64(0)
			for _, b := range h.GetBucket() {
				if b.GetCumulativeCount() < prev || b.GetCumulativeCount() > h.GetSampleCount() {
					t.Errorf("%v: bucket le=%v holds %d after %d, of %d", m.GetLabel(), b.GetUpperBound(), b.GetCumulativeCount(), prev, h.GetSampleCount())
				}
				prev = b.GetCumulativeCount()
			}
			if h.GetSampleSum() <= 0 {
				t.Errorf("%v: sum %v", m.GetLabel(), h.GetSampleSum())
			}
			for _, l := range m.GetLabel() {
				if l.GetName() == "stage" {
					counts[l.GetValue()] = h.GetSampleCount()
				}
			}
		}
	}
	if counts["filter_0"] != 80 || counts["map_1"] != 70 {
		t.Fatalf("duration counts %v, want filter_0 80 and map_1 70", counts)
	}
}
