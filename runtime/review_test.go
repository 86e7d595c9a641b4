package runtime_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/runtime"
	"github.com/prometheus/client_golang/prometheus"
)

// An observer may read what it is shown: the event comes before the
// receiving node owns the messages (run with -race).
func TestObserverMayReadEnqueuedMessages(t *testing.T) {
	var bodies []string
	for i := 0; i < 300; i++ {
		bodies = append(bodies, fmt.Sprintf(`{"n":%d}`, i))
	}
	newSource(t, "orace", bodies...)
	newSink(t, "orace-out")
	var mu sync.Mutex
	seen := 0
	obs := runtime.ObserverFunc(func(e runtime.Event) {
		for _, m := range e.Messages {
			mu.Lock()
			if m.Payload != nil || m.Decoded || len(m.Meta) > 0 || m.Key != "" {
				seen++
			}
			mu.Unlock()
		}
	})
	flow := compile(t, "version: 1\nname: orace\nsource: {tsrc: {name: orace}}\nstages:\n  - set: {m: payload.n}\nsink: {tsink: {name: orace-out}}\n")
	if _, err := runtime.New(flow, runtime.Options{Observers: []runtime.Observer{obs}}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatal("observer saw nothing")
	}
}

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

// partitionedSource is a fakeSource whose messages come from 3 partitions
// and must stay in order per partition, like Kafka's.
type partitionedSource struct{ *fakeSource }

func (partitionedSource) OrderedByPartition() bool { return true }

func (s partitionedSource) Read(ctx context.Context, buf []*message.Message) (int, error) {
	n, err := s.fakeSource.Read(ctx, buf)
	for _, m := range buf[:n] {
		var i int
		fmt.Sscan(m.ID, &i)
		m.Partition, m.Offset = int32(i%3), int64(i)
	}
	return n, err
}

func TestOrderKeptPerSourcePartitionWithoutPartitionBy(t *testing.T) {
	var bodies []string
	for i := 0; i < 3000; i++ {
		bodies = append(bodies, fmt.Sprintf(`{"i":%d,"work":%d}`, i, (i*7919)%50))
	}
	fixtures.Store("po-part", partitionedSource{newSource(t, "po", bodies...)})
	t.Cleanup(func() { fixtures.Delete("po-part") })
	sink := newSink(t, "po-out")
	runFlow(t, `
version: 1
name: po
source: {tsrc: {name: po-part}}
concurrency: 4
max_demand: 2
stages:
  - filter: 'len(map(1..payload.work * 20, # * 2)) >= 0'
sink: {tsink: {name: po-out}}
`)
	last := map[int32]int64{0: -1, 1: -1, 2: -1}
	for _, m := range sink.messages() {
		if m.Offset <= last[m.Partition] {
			t.Fatalf("partition %d: offset %d after %d", m.Partition, m.Offset, last[m.Partition])
		}
		last[m.Partition] = m.Offset
	}
	if n := len(sink.messages()); n != 3000 {
		t.Fatalf("delivered %d", n)
	}
}

func TestDrainTimeoutLeavesMessagesForRedelivery(t *testing.T) {
	src := newSource(t, "dt")
	src.endless = true
	sink := newSink(t, "dt-out")
	sink.delay = 5 * time.Second // honours ctx
	dlq := newSink(t, "dt-dlq")
	flow := compile(t, "version: 1\nname: dt\nsource: {tsrc: {name: dt}}\nsink: {tsink: {name: dt-out}}\ndead_letter: {tsink: {name: dt-dlq}}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	sum, err := runtime.New(flow, runtime.Options{DrainTimeout: 200 * time.Millisecond}).Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	acked, nacked := src.counts()
	if !sum.DrainTimeout || len(dlq.messages()) != 0 || acked != 0 || nacked != 0 || sum.In == 0 {
		t.Fatalf("summary %+v, dead letters %d, acked %d, nacked %d: cancelled work must stay unacked", sum, len(dlq.messages()), acked, nacked)
	}
}

func TestMiddlewareFailureNamesTheMiddleware(t *testing.T) {
	newSource(t, "mwn", `{"id": 1}`, `{"id": "x"}`)
	newSink(t, "mwn-out")
	dlq := newSink(t, "mwn-dlq")
	runFlow(t, `
version: 1
name: mwn
source: {tsrc: {name: mwn}}
middleware:
  - dedupe: {key: 'payload.id + 1'}
stages:
  - map: payload
sink: {tsink: {name: mwn-out}}
dead_letter: {tsink: {name: mwn-dlq}}
`)
	dead := dlq.messages()
	if len(dead) != 1 || dead[0].Meta["error_stage"] != "dedupe" || !strings.Contains(dead[0].Meta["error"], "dedupe") {
		t.Fatalf("dead letters %v", dead)
	}
}

func TestPartialWriteFailsOnlyTheRejectedMessages(t *testing.T) {
	src := newSource(t, "pw", `{"n":1}`, `{"n":"bad"}`, `{"n":3}`)
	sink, dlq := newSink(t, "pw-out"), newSink(t, "pw-dlq")
	sink.reject = "bad"
	sink.delay = 20 * time.Millisecond // so the three arrive in one merged write
	runFlow(t, `
version: 1
name: pw
source: {tsrc: {name: pw}}
concurrency: 1
middleware:
  - retry: {max_retries: 3, initial_interval: 1ms, max_interval: 2ms}
sink: {tsink: {name: pw-out}}
dead_letter: {tsink: {name: pw-dlq}}
`)
	if got := strings.Join(sink.bodies(), ","); got != `{"n":1},{"n":3}` {
		t.Fatalf("sink got %s (each good message exactly once)", got)
	}
	if d := dlq.messages(); len(d) != 1 || string(d[0].Body) != `{"n":"bad"}` || d[0].Meta["error_stage"] != "sink" {
		t.Fatalf("dead letters %v", d)
	}
	if acked, nacked := src.counts(); acked != 3 || nacked != 0 {
		t.Fatalf("acked %d nacked %d", acked, nacked)
	}
}

// A finite source ends the run the same way as a stop signal: the drain
// is bounded by the drain timeout even when a sink hangs.
func TestDrainTimeoutAlsoBoundsTheEndOfAFiniteSource(t *testing.T) {
	newSource(t, "fin", `1`, `2`)
	sink := newSink(t, "fin-out")
	sink.delay = time.Hour // honours ctx
	flow := compile(t, "version: 1\nname: fin\nsource: {tsrc: {name: fin}}\nsink: {tsink: {name: fin-out}}\n")
	sum, err := runtime.New(flow, runtime.Options{DrainTimeout: 100 * time.Millisecond}).Run(context.Background())
	// The test source cannot redeliver: what the drain left unacked is lost.
	if err != nil || !sum.DrainTimeout || sum.In != 2 || sum.Out != 0 || sum.Lost != 2 || !sum.Undelivered() {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
}

func TestProgressCountsWhileRunning(t *testing.T) {
	newSource(t, "pg", `{"a":1}`, `{"a":2}`, `x`)
	newSink(t, "pg-out")
	newSink(t, "pg-dlq")
	flow := compile(t, "version: 1\nname: pg\nsource: {tsrc: {name: pg}}\nstages:\n  - filter: payload.a > 1\nsink: {tsink: {name: pg-out}}\ndead_letter: {tsink: {name: pg-dlq}}\n")
	p := runtime.New(flow, runtime.Options{})
	if got := p.Progress(); got != (runtime.Summary{}) {
		t.Fatalf("before Run: %+v", got)
	}
	sum, err := p.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := p.Progress()
	if got.In != 3 || got.Acked != 1 || got.Filtered != 1 || got.DeadLettered != 1 || got.Settled() != 3 || sum.Settled() != 3 {
		t.Fatalf("progress %+v, summary %+v", got, sum)
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
	var mu sync.Mutex
	full := 0
	obs := runtime.ObserverFunc(func(e runtime.Event) {
		if e.Kind == runtime.EventBufferFull && e.From == "processors" && e.To == "sink" {
			mu.Lock()
			full++
			mu.Unlock()
		}
	})
	flow := compile(t, "version: 1\nname: bp\nsource: {tsrc: {name: bp}}\nconcurrency: 2\nmax_demand: 4\nsink: {tsink: {name: bp-out}}\n")
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	if _, err := runtime.New(flow, runtime.Options{Metrics: reg, Observers: []runtime.Observer{obs}}).Run(ctx); err != nil {
		t.Fatal(err)
	}
	if blocked := metricValue(t, reg, `flowrun_edge_blocked_seconds_total{flow="bp",from="processors",to="sink"}`); blocked <= 0 {
		t.Fatalf("blocked seconds %v: a slow sink must show as backpressure", blocked)
	}
	mu.Lock()
	defer mu.Unlock()
	if full == 0 {
		t.Fatal("no buffer_full event")
	}
}

func TestLogObserverWritesEventsAsDebugLines(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	runtime.LogObserver(log).Observe(runtime.Event{Kind: runtime.EventEnqueued, Flow: "f", From: "source", To: "processors", Count: 3})
	if got := buf.String(); !strings.Contains(got, "level=DEBUG msg=enqueued flow=f from=source to=processors count=3") {
		t.Fatalf("log line %q", got)
	}
	buf.Reset()
	runtime.LogObserver(slog.New(slog.NewTextHandler(&buf, nil))).Observe(runtime.Event{Kind: runtime.EventDemand})
	if buf.Len() != 0 {
		t.Fatalf("logged at info level: %q", buf.String())
	}
}
