package runtime_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/runtime"
	"github.com/prometheus/client_golang/prometheus"
)

func TestFilterMapDeliversExactlyAndAcksAll(t *testing.T) {
	src := newSource(t, "fm", `{"id":1,"amount":600,"currency":"EUR"}`, `{"id":2,"amount":10,"currency":"EUR"}`,
		`{"id":3,"amount":900,"currency":"USD"}`, `{"id":4,"amount":501.5,"currency":"EUR"}`)
	sink := newSink(t, "fm-out")
	sum := runFlow(t, `
version: 1
name: fm
source: {tsrc: {name: fm}}
concurrency: 1
stages:
  - filter: payload.amount > 500 && payload.currency == "EUR"
  - map: '{"id": payload.id, "cents": int(payload.amount * 100)}'
sink: {tsink: {name: fm-out}}
`)
	want := []string{`{"cents":60000,"id":1}`, `{"cents":50150,"id":4}`}
	if got := sink.bodies(); !slices.Equal(got, want) {
		t.Fatalf("sink got %q, want %q", got, want)
	}
	acked, nacked := src.counts()
	if acked != 4 || nacked != 0 {
		t.Fatalf("acked %d nacked %d, want 4 and 0", acked, nacked)
	}
	if sum.In != 4 || sum.Out != 2 || sum.Acked != 2 || sum.Filtered != 2 {
		t.Fatalf("summary %+v", sum)
	}
	if !src.closed.Load() || !sink.closed.Load() {
		t.Fatal("connectors not closed")
	}
}

func TestPassthroughKeepsBytesAndValidates(t *testing.T) {
	src := newSource(t, "pt", `{"a": 1}`, `not json`, `[1,2]`)
	sink := newSink(t, "pt-out")
	dlq := newSink(t, "pt-dlq")
	runFlow(t, `
version: 1
name: pt
source: {tsrc: {name: pt}}
sink: {tsink: {name: pt-out}}
dead_letter: {tsink: {name: pt-dlq}}
`)
	if got, want := sink.bodies(), []string{`{"a": 1}`, `[1,2]`}; !slices.Equal(got, want) {
		t.Fatalf("sink got %q, want %q", got, want)
	}
	dead := dlq.messages()
	if len(dead) != 1 || string(dead[0].Body) != "not json" || dead[0].Meta["error_stage"] != "decode" ||
		dead[0].Meta["flow"] != "pt" || dead[0].Meta["attempts"] != "1" || dead[0].Meta["src"] != "fake" {
		t.Fatalf("dead letter %+v", dead)
	}
	if acked, _ := src.counts(); acked != 3 {
		t.Fatalf("acked %d, want 3 (dead-lettered ones are acked too)", acked)
	}
}

func TestSplitAcksOriginalOnlyWhenAllItemsDelivered(t *testing.T) {
	src := newSource(t, "sp", `{"order":"o1","items":[{"sku":"a"},{"sku":"b"},{"sku":"c"}]}`, `{"order":"o2","items":[]}`)
	sink := newSink(t, "sp-out")
	sink.failFirst.Store(1) // first write fails, retried
	sum := runFlow(t, `
version: 1
name: sp
source: {tsrc: {name: sp}}
middleware:
  - retry: {max_retries: 3, initial_interval: 1ms, max_interval: 2ms}
stages:
  - split: payload.items
  - set: {n: 1}
sink: {tsink: {name: sp-out}}
`)
	got := sink.bodies()
	slices.Sort(got)
	if want := []string{`{"sku":"a","n":1}`, `{"sku":"b","n":1}`, `{"sku":"c","n":1}`}; !slices.Equal(got, want) {
		t.Fatalf("sink got %q, want %q", got, want)
	}
	if acked, _ := src.counts(); acked != 2 || src.acked["0"] != 1 {
		t.Fatalf("acks %v", src.acked)
	}
	if sum.Acked != 1 || sum.Filtered != 1 || sum.Out != 3 {
		t.Fatalf("summary %+v", sum)
	}
}

func TestKeyedBatchWithReduce(t *testing.T) {
	var bodies []string
	for i := 0; i < 10; i++ {
		bodies = append(bodies, fmt.Sprintf(`{"country":"%s","amount":%d}`, []string{"FR", "DE"}[i%2], i))
	}
	src := newSource(t, "br", bodies...)
	sink := newSink(t, "br-out")
	runFlow(t, `
version: 1
name: br
source: {tsrc: {name: br}}
stages:
  - batch:
      size: 3
      timeout: 1h
      key: payload.country
      reduce: '{"country": batch_key, "count": len(batch), "sum": sum(map(batch, .amount))}'
sink: {tsink: {name: br-out}}
`)
	got := sink.bodies()
	slices.Sort(got)
	// 5 per country: one full batch of 3, then the drain flushes the 2 left.
	want := []string{`{"count":2,"country":"DE","sum":16}`, `{"count":2,"country":"FR","sum":14}`,
		`{"count":3,"country":"DE","sum":9}`, `{"count":3,"country":"FR","sum":6}`}
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("sink got %q, want %q", got, want)
	}
	if acked, _ := src.counts(); acked != 10 {
		t.Fatalf("acked %d, want 10", acked)
	}
	// Their trackers keep a reduced batch's messages until the result is
	// written: without their decoded payloads, which reduce has used.
	sink.mu.Lock()
	defer sink.mu.Unlock()
	members := 0
	for _, w := range sink.writes {
		for _, m := range w {
			m.Trackers(func(tr *message.Tracker) {
				members++
				if src := tr.Source(); src.Decoded || src.Payload != nil {
					t.Errorf("member %s still holds its payload %v", src.ID, src.Payload)
				}
			})
		}
	}
	if members != 10 {
		t.Fatalf("%d members in the reduced messages, want 10", members)
	}
}

// A batch without reduce is one write of its messages; the drain at the
// end of the source flushes the last, partial one.
func TestBatchWithoutReduceIsOneWrite(t *testing.T) {
	newSource(t, "bt", `1`, `2`, `3`, `4`, `5`)
	sink := newSink(t, "bt-out")
	runFlow(t, `
version: 1
name: bt
source: {tsrc: {name: bt}}
stages:
  - batch: {size: 2, timeout: 1h}
sink: {tsink: {name: bt-out}}
`)
	if sizes := sink.writeSizes(); !slices.Equal(sizes, []int{2, 2, 1}) {
		t.Fatalf("write sizes %v, want [2 2 1]", sizes)
	}
}

// A partial batch is flushed when its timeout passes, while the source
// is still open: nothing else could flush it.
func TestBatchFlushesOnTimeout(t *testing.T) {
	src := newSource(t, "bto", `1`)
	src.hold = true
	sink := newSink(t, "bto-out")
	flow := compile(t, `
version: 1
name: bto
source: {tsrc: {name: bto}}
stages:
  - batch: {size: 2, timeout: 10ms}
sink: {tsink: {name: bto-out}}
`)
	runUntil(t, flow, runtime.Options{}, "a write", func() bool { return len(sink.writeSizes()) > 0 })
	if sizes := sink.writeSizes(); !slices.Equal(sizes, []int{1}) {
		t.Fatalf("write sizes %v, want [1]", sizes)
	}
	if acked, _ := src.counts(); acked != 1 {
		t.Fatalf("acked %d, want 1", acked)
	}
}

func TestPartitionByKeepsOrderPerKey(t *testing.T) {
	var bodies []string
	for i := 0; i < 2000; i++ {
		bodies = append(bodies, fmt.Sprintf(`{"user":"u%d","seq":%d}`, i%7, i))
	}
	newSource(t, "pb", bodies...)
	sink := newSink(t, "pb-out")
	runFlow(t, `
version: 1
name: pb
source: {tsrc: {name: pb}}
concurrency: 4
max_demand: 8
partition_by: payload.user
stages:
  - map: '{"user": payload.user, "seq": payload.seq}'
sink: {tsink: {name: pb-out}}
`)
	last := map[string]int{}
	count := 0
	for _, m := range sink.messages() {
		p := m.Payload.(map[string]any)
		u, seq := p["user"].(string), p["seq"].(int)
		if prev, ok := last[u]; ok && seq <= prev {
			t.Fatalf("user %s: seq %v after %v", u, seq, prev)
		}
		last[u] = seq
		count++
	}
	if count != 2000 {
		t.Fatalf("delivered %d, want 2000", count)
	}
}

func TestDemandBoundsInFlightAndDrainAcksEverything(t *testing.T) {
	src := newSource(t, "dm")
	src.endless = true
	sink := newSink(t, "dm-out")
	sink.delay = time.Millisecond
	flow := compile(t, `
version: 1
name: dm
source: {tsrc: {name: dm}}
concurrency: 2
max_demand: 10
sink: {tsink: {name: dm-out}}
`)
	sum := runUntil(t, flow, runtime.Options{}, "50 messages delivered", func() bool { return len(sink.messages()) >= 50 })
	acked, nacked := src.counts()
	if int64(acked) != sum.In || nacked != 0 || src.out.Load() != 0 {
		t.Fatalf("read %d, acked %d, nacked %d, outstanding %d", sum.In, acked, nacked, src.out.Load())
	}
	if len(sink.messages()) != acked {
		t.Fatalf("sink has %d, acked %d", len(sink.messages()), acked)
	}
	// credits (2x10) + the sink edge (2*2+2 chunks of at most 10) + one merged write (1+6 chunks).
	if bound := int64(20 + 6*10 + 70); src.maxOut.Load() > bound {
		t.Fatalf("%d messages outstanding at once, bound %d", src.maxOut.Load(), bound)
	}
	if n := sink.maxInFlight.Load(); n != 1 {
		t.Fatalf("%d writes at once to a sink that does not call registry.Sent, want 1", n)
	}
}

// A sink that calls registry.Sent gets its next write while the last
// one waits for acknowledgements, still in edge order, at most
// writesInFlight (4) at once, and every message is acked once.
func TestSinkCallingSentHasWritesInFlightInOrder(t *testing.T) {
	var bodies, want []string
	for i := range 2000 {
		bodies = append(bodies, fmt.Sprintf(`{"n":%d}`, i))
		want = append(want, fmt.Sprintf(`{"n":%d}`, i))
	}
	src := newSource(t, "sent", bodies...)
	sink := newSink(t, "sent-out")
	sink.pipelined, sink.delay = true, 5*time.Millisecond
	sum := runFlow(t, `
version: 1
name: sent
source: {tsrc: {name: sent}}
concurrency: 1
max_demand: 10
sink: {tsink: {name: sent-out}}
`)
	if got := sink.bodies(); !slices.Equal(got, want) {
		t.Fatalf("sink received %d messages, not the 2000 in source order (first %v)", len(got), got[:min(len(got), 5)])
	}
	acked, nacked := src.counts()
	if acked != 2000 || nacked != 0 || sum.Out != 2000 {
		t.Fatalf("acked %d, nacked %d, out %d; want 2000 acked, 0 nacked", acked, nacked, sum.Out)
	}
	if n := sink.maxInFlight.Load(); n < 2 || n > 4 {
		t.Fatalf("%d writes in flight at most, want 2 to 4", n)
	}
}

func TestRouteToNamedSinks(t *testing.T) {
	newSource(t, "rt", `{"a":5}`, `{"a":50}`, `{"a":500}`)
	small, large := newSink(t, "rt-small"), newSink(t, "rt-large")
	runFlow(t, `
version: 1
name: rt
source: {tsrc: {name: rt}}
concurrency: 1
stages:
  - route:
      - {when: payload.a >= 100, to: large}
      - {default: small}
sinks:
  small: {tsink: {name: rt-small}}
  large: {tsink: {name: rt-large}}
`)
	if got := strings.Join(small.bodies(), ","); got != `{"a":5},{"a":50}` {
		t.Fatalf("small got %s", got)
	}
	if got := strings.Join(large.bodies(), ","); got != `{"a":500}` {
		t.Fatalf("large got %s", got)
	}
}

func TestOversizedMessageIsDeadLettered(t *testing.T) {
	newSource(t, "big", `{"a":1}`, `{"a":"`+strings.Repeat("x", 200)+`"}`)
	sink, dlq := newSink(t, "big-out"), newSink(t, "big-dlq")
	runFlow(t, `
version: 1
name: big
source: {tsrc: {name: big}}
max_message_bytes: 100
sink: {tsink: {name: big-out}}
dead_letter: {tsink: {name: big-dlq}}
`)
	if len(sink.bodies()) != 1 || len(dlq.messages()) != 1 || dlq.messages()[0].Meta["error_stage"] != "source" {
		t.Fatalf("sink %q, dlq %v", sink.bodies(), dlq.messages())
	}
}

func TestManyKeysFlushOldestBatchAtMaxBuffered(t *testing.T) {
	var bodies []string
	for i := 0; i < 50; i++ {
		bodies = append(bodies, fmt.Sprintf(`{"user":"u%d"}`, i)) // 50 keys, one message each
	}
	src := newSource(t, "mb", bodies...)
	sink := newSink(t, "mb-out")
	reg := prometheus.NewRegistry()
	flow := compile(t, `
version: 1
name: mb
source: {tsrc: {name: mb}}
concurrency: 1
stages:
  - batch: {size: 10, timeout: 1h, key: payload.user, max_buffered: 10}
sink: {tsink: {name: mb-out}}
`)
	if _, err := runtime.New(flow, runtime.Options{Metrics: reg}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// 10 keys open at a time: each further key flushes the oldest early; the drain flushes the last 10.
	if early := metricValue(t, reg, `flowrun_batch_early_flushes_total{flow="mb",stage="batch_0"}`); early != 40 {
		t.Fatalf("%v early flushes, want 40", early)
	}
	sink.mu.Lock()
	writes := len(sink.writes)
	sink.mu.Unlock()
	if writes != 50 || len(sink.bodies()) != 50 {
		t.Fatalf("%d writes of %d messages, want 50 single-message batches", writes, len(sink.bodies()))
	}
	if acked, _ := src.counts(); acked != 50 {
		t.Fatalf("acked %d", acked)
	}
}

// A flow that reads the payload only by field name decodes just those
// fields; a message that does not decode still goes to the dead letter
// intact, and values the closures do not handle get expr's own errors.
func TestFieldsOnlyFlowKeepsDecodeAndExpressionFailures(t *testing.T) {
	bodies := []string{
		`{"id":1,"amount":600,"currency":"EUR","extra":{"deep":[1,2,{"x":"y"}]}}`,
		`{"id":2,"amount":600,"currency":"EUR","extra":[1,2,}`, // malformed in a field no expression reads
		`{"id":3,"currency":"EUR"}`,                            // nil > 500
		`[1,2]`,                                                // not an object
		`{"id":5,"amount":"700","currency":"EUR"}`,             // string > 500
		`{"id":6,"amount":800,"currency":"EUR","amount":100}`,  // the last of equal keys wins
		`{"id":7,"amount":1e3,"currency":"EUR"}`,
	}
	src := newSource(t, "fo", bodies...)
	sink := newSink(t, "fo-out")
	dlq := newSink(t, "fo-dlq")
	flow := compile(t, `
version: 1
name: fo
source: {tsrc: {name: fo}}
concurrency: 1
stages:
  - filter: payload.amount > 500 && payload.currency == "EUR"
  - map: '{"id": payload.id, "cents": int(payload.amount * 100)}'
sink: {tsink: {name: fo-out}}
dead_letter: {tsink: {name: fo-dlq}}
`)
	if !slices.Equal(flow.PayloadFields, []string{"amount", "currency", "id"}) {
		t.Fatalf("PayloadFields %q: the flow should decode only the fields it reads", flow.PayloadFields)
	}
	if _, err := runtime.New(flow, runtime.Options{}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, want := sink.bodies(), []string{`{"cents":60000,"id":1}`, `{"cents":100000,"id":7}`}; !slices.Equal(got, want) {
		t.Fatalf("sink got %q, want %q", got, want)
	}
	wantDead := map[string]string{bodies[1]: "decode", bodies[2]: "filter_0", bodies[3]: "filter_0", bodies[4]: "filter_0"}
	dead := dlq.messages()
	if len(dead) != len(wantDead) {
		t.Fatalf("dead letters %d, want %d", len(dead), len(wantDead))
	}
	for _, m := range dead {
		stage, ok := wantDead[string(m.Body)]
		if !ok || m.Meta["error_stage"] != stage || m.Meta["error"] == "" {
			t.Errorf("dead letter %q: stage %q error %q; want stage %q", m.Body, m.Meta["error_stage"], m.Meta["error"], stage)
		}
	}
	if e := dead[1].Meta["error"]; !strings.Contains(e, "payload.amount > 500") {
		t.Errorf("the expression error %q does not name the expression", e)
	}
	if acked, nacked := src.counts(); acked != len(bodies) || nacked != 0 {
		t.Fatalf("acked %d nacked %d, want %d and 0", acked, nacked, len(bodies))
	}
}

// A dead letter sink that takes only part of a write: the messages it
// took are acked and counted dead-lettered, only the rest are nacked.
func TestDeadLetterPartialWriteNacksOnlyTheFailed(t *testing.T) {
	src := newSource(t, "dp", `bad-1`, `bad-reject`, `bad-3`)
	newSink(t, "dp-out")
	dlq := newSink(t, "dp-dlq")
	dlq.reject = "reject"
	dlq.delay = 50 * time.Millisecond // whatever the first write holds, the rest waits for one write together
	sum := runFlow(t, `
version: 1
name: dp
source: {tsrc: {name: dp}}
concurrency: 1
stages:
  - filter: payload.a == 1
sink: {tsink: {name: dp-out}}
dead_letter: {tsink: {name: dp-dlq}}
`)
	if got := dlq.bodies(); !slices.Equal(got, []string{"bad-1", "bad-3"}) {
		t.Fatalf("dead letter holds %q", got)
	}
	acked, nacked := src.counts()
	if acked != 2 || nacked != 1 || sum.DeadLettered != 2 || sum.Nacked != 1 {
		t.Fatalf("acked %d nacked %d, summary %+v; want 2 dead-lettered and acked, 1 nacked", acked, nacked, sum)
	}
}
