package runtime_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/cenkalti/backoff/v4"
	_ "github.com/flowrun/flowrun/connectors/file"
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// A failure no redelivery can fix (an expression's type error), without
// a dead letter, is discarded: acked so the source moves on (a Kafka
// partition is not held up by it), counted as lost, never nacked.
func TestPermanentFailureWithoutDeadLetterIsDiscarded(t *testing.T) {
	for _, kind := range []string{"tsrc", "tredeliver"} {
		t.Run(kind, func(t *testing.T) {
			src := newSource(t, "pf-"+kind, `{"x": 1}`, `{"x": "a"}`, `not json`)
			sink := newSink(t, "pf-out-"+kind)
			sum := runFlow(t, `
version: 1
name: pf
source: {`+kind+`: {name: pf-`+kind+`}}
stages:
  - map: payload.x + 1
sink: {tsink: {name: pf-out-`+kind+`}}
`)
			acked, nacked := src.counts()
			if acked != 3 || nacked != 0 || sum.Discarded != 2 || sum.Lost != 2 || sum.Nacked != 0 || !sum.Undelivered() {
				t.Fatalf("acked %d nacked %d, summary %+v", acked, nacked, sum)
			}
			if got := sink.bodies(); !slices.Equal(got, []string{"2"}) {
				t.Fatalf("sink got %q", got)
			}
		})
	}
}

func init() {
	registry.RegisterStage(&registry.StageSpec{Name: "tslow", Value: registry.Field{Type: registry.String},
		Build: func(*registry.Build, any) (registry.Built, error) { return registry.Built{Step: slowStep{}}, nil }})
}

// slowStep fails every message as an evaluation over its time budget does.
type slowStep struct{}

func (slowStep) Apply(*registry.Exec, *message.Message, []*message.Message) ([]*message.Message, error) {
	return nil, fmt.Errorf("expression %q: %w", "slow", expression.ErrTimeBudget)
}

// An evaluation over its time budget may pass on a less busy host: it is
// nacked for redelivery, not discarded as a failure that cannot mend.
func TestTimeBudgetFailureIsRedelivered(t *testing.T) {
	src := newSource(t, "tb", `{"x": 1}`)
	newSink(t, "tb-out")
	sum := runFlow(t, `
version: 1
name: tb
source: {tredeliver: {name: tb}}
stages:
  - tslow: ""
sink: {tsink: {name: tb-out}}
`)
	if _, nacked := src.counts(); nacked != 1 || sum.Discarded != 0 || sum.Lost != 0 {
		t.Fatalf("nacked %d, summary %+v", nacked, sum)
	}
}

// A sink write that fails (and might work later) is nacked. It is lost
// only when the source cannot redeliver it.
func TestSinkFailureIsNackedAndLostOnlyWithoutRedelivery(t *testing.T) {
	for kind, lost := range map[string]int64{"tsrc": 2, "tredeliver": 0} {
		t.Run(kind, func(t *testing.T) {
			src := newSource(t, "sf-"+kind, `{"x": 1}`, `{"x": 2}`)
			sink := newSink(t, "sf-out-"+kind)
			sink.failFirst.Store(1 << 30)
			sum := runFlow(t, "version: 1\nname: sf\nsource: {"+kind+": {name: sf-"+kind+"}}\nsink: {tsink: {name: sf-out-"+kind+"}}\n")
			acked, nacked := src.counts()
			if acked != 0 || nacked != 2 || sum.Nacked != 2 || sum.Lost != lost || sum.Undelivered() != (lost > 0) {
				t.Fatalf("acked %d nacked %d, summary %+v", acked, nacked, sum)
			}
		})
	}
}

// A sink that says a write can never succeed (backoff.Permanent) has its
// messages discarded, not redelivered forever.
func TestPermanentSinkErrorIsDiscarded(t *testing.T) {
	src := newSource(t, "ps", `{"x": 1}`)
	fixtures.Store("ps-out", permanentSink{})
	t.Cleanup(func() { fixtures.Delete("ps-out") })
	sum := runFlow(t, "version: 1\nname: ps\nsource: {tredeliver: {name: ps}}\nsink: {tsink: {name: ps-out}}\n")
	if acked, nacked := src.counts(); acked != 1 || nacked != 0 || sum.Discarded != 1 || sum.Lost != 1 {
		t.Fatalf("acked %d nacked %d, summary %+v", acked, nacked, sum)
	}
}

type permanentSink struct{}

func (permanentSink) Write(context.Context, []*message.Message) error {
	return backoff.Permanent(errors.New("400 bad request"))
}
func (permanentSink) Close() error { return nil }

// A source that can refuse a message (a webhook) is asked to, instead of
// acking a message that failed for good.
func TestPermanentFailureIsRejectedBySourcesThatCan(t *testing.T) {
	src := &rejectingSource{fakeSource: newSource(t, "rj", `{"x": 1}`, `oops`)}
	fixtures.Store("rj", src)
	newSink(t, "rj-out")
	sum := runFlow(t, "version: 1\nname: rj\nsource: {tredeliver: {name: rj}}\nsink: {tsink: {name: rj-out}}\n")
	acked, nacked := src.counts()
	if acked != 1 || nacked != 0 || !slices.Equal(src.rejected, []string{"1"}) || sum.Lost != 1 {
		t.Fatalf("acked %d nacked %d rejected %v, summary %+v", acked, nacked, src.rejected, sum)
	}
}

type rejectingSource struct {
	*fakeSource
	mu       sync.Mutex
	rejected []string
}

func (s *rejectingSource) Reject(m *message.Message, _ error) {
	s.mu.Lock()
	s.rejected = append(s.rejected, m.ID)
	s.mu.Unlock()
}

// A line over max_line_bytes is a failure like any other: dead-lettered
// with its first max_line_bytes bytes and the reason, or (without a dead
// letter) counted as lost.
func TestLineOverMaxLineBytesIsDeadLetteredOrLost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	long := strings.Repeat("y", 100)
	if err := os.WriteFile(path, []byte("{\"a\":1}\n\""+long+"\"\n{\"a\":3}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	src := "version: 1\nname: ll\nsource: {file: {path: " + path + ", max_line_bytes: 10}}\nsink: {tsink: {name: ll-out}}\n"

	sink, dlq := newSink(t, "ll-out"), newSink(t, "ll-dlq")
	sum := runFlow(t, src+"dead_letter: {tsink: {name: ll-dlq}}\n")
	if got := sink.bodies(); !slices.Equal(got, []string{`{"a":1}`, `{"a":3}`}) {
		t.Fatalf("sink got %q", got)
	}
	dead := dlq.messages()
	wantErr := "line 2 is 102 bytes, over max_line_bytes (10): only its first 10 bytes are kept; raise max_line_bytes to read it whole"
	if len(dead) != 1 || string(dead[0].Body) != `"`+long[:9] || dead[0].Meta["error_stage"] != "source" ||
		!strings.Contains(dead[0].Meta["error"], wantErr) || sum.In != 3 || sum.DeadLettered != 1 || sum.Undelivered() {
		t.Fatalf("dead letters %+v, summary %+v", dead, sum)
	}

	newSink(t, "ll-out2")
	sum = runFlow(t, strings.ReplaceAll(src, "ll-out", "ll-out2"))
	if sum.In != 3 || sum.Out != 2 || sum.Discarded != 1 || sum.Lost != 1 || !sum.Undelivered() {
		t.Fatalf("without a dead letter: summary %+v", sum)
	}
}

// dedupe: a copy arriving while the first is in flight waits for the
// first's outcome. Four lines repeating line 1 at line 3 give three
// outputs, though line 3 is read in the same chunk as line 1.
func TestDedupeDropsACopyOfAMessageInFlight(t *testing.T) {
	newSource(t, "dd4", `{"id":1}`, `{"id":2}`, `{"id":1}`, `{"id":4}`)
	sink := newSink(t, "dd4-out")
	sum := runFlow(t, `
version: 1
name: dd4
source: {tsrc: {name: dd4}}
middleware:
  - dedupe: {key: string(payload.id)}
sink: {tsink: {name: dd4-out}}
`)
	if got := sink.bodies(); !slices.Equal(got, []string{`{"id":1}`, `{"id":2}`, `{"id":4}`}) || sum.Filtered != 1 {
		t.Fatalf("sink got %q, summary %+v", got, sum)
	}
}

// Two dedupes each keep their own key per message: the second no longer
// overwrote the first's, which then never let its copies go on.
func TestTwoDedupesEachReleaseTheirKey(t *testing.T) {
	newSource(t, "dd2", `{"a":"x","b":"1"}`, `{"a":"x","b":"2"}`, `{"a":"y","b":"1"}`)
	sink := newSink(t, "dd2-out")
	sum := runFlow(t, `
version: 1
name: dd2
source: {tsrc: {name: dd2}}
concurrency: 1
middleware:
  - dedupe: {key: payload.a}
  - dedupe: {key: payload.b}
sink: {tsink: {name: dd2-out}}
`)
	if got := sink.bodies(); !slices.Equal(got, []string{`{"a":"x","b":"1"}`}) || sum.Filtered != 2 || sum.DrainTimeout {
		t.Fatalf("sink got %q, summary %+v", got, sum)
	}
}

// 200 messages over 50 keys, four processors (shared lane, and lanes by
// key): exactly one output per key.
func TestDedupeUnderConcurrencyGivesOneOutputPerKey(t *testing.T) {
	var bodies []string
	for i := range 200 {
		bodies = append(bodies, `{"id":`+strconv.Itoa(i%50)+`}`)
	}
	for name, extra := range map[string]string{"shared": "", "lanes": "partition_by: string(payload.id)\n"} {
		t.Run(name, func(t *testing.T) {
			newSource(t, "dd50-"+name, bodies...)
			sink := newSink(t, "dd50-out-"+name)
			sum := runFlow(t, "version: 1\nname: dd50\nconcurrency: 4\nmax_demand: 16\n"+extra+
				"source: {tsrc: {name: dd50-"+name+"}}\nmiddleware:\n  - dedupe: {key: string(payload.id)}\nsink: {tsink: {name: dd50-out-"+name+"}}\n")
			got := sink.bodies()
			slices.Sort(got)
			distinct := len(slices.Compact(slices.Clone(got)))
			if len(got) != 50 || distinct != 50 || sum.Filtered != 150 || sum.Acked != 50 {
				t.Fatalf("%d outputs (%d distinct), summary %+v", len(got), distinct, sum)
			}
		})
	}
}

// When the first copy fails, the copy that waited for it is handled.
func TestDedupeHandlesTheCopyWhenTheFirstFailed(t *testing.T) {
	newSource(t, "ddf", `{"id":1,"v":"x"}`, `{"id":1,"v":2}`)
	sink, dlq := newSink(t, "ddf-out"), newSink(t, "ddf-dlq")
	runFlow(t, `
version: 1
name: ddf
source: {tsrc: {name: ddf}}
middleware:
  - dedupe: {key: string(payload.id)}
stages:
  - map: payload.v + 1
sink: {tsink: {name: ddf-out}}
dead_letter: {tsink: {name: ddf-dlq}}
`)
	if got := sink.bodies(); !slices.Equal(got, []string{"3"}) || len(dlq.messages()) != 1 {
		t.Fatalf("sink got %q, dead letters %d", got, len(dlq.messages()))
	}
}

// Behind a batch stage the first copy waits in an open batch: its copy
// waits with it until the batch's timeout flushes it, and the flow ends.
func TestDedupeCopyBehindAnOpenBatchDoesNotDeadlock(t *testing.T) {
	newSource(t, "ddb", `{"id":1}`, `{"id":2}`, `{"id":1}`)
	sink := newSink(t, "ddb-out")
	sum := runFlow(t, `
version: 1
name: ddb
concurrency: 1
source: {tsrc: {name: ddb}}
middleware:
  - dedupe: {key: string(payload.id)}
stages:
  - batch: {size: 100, timeout: 20ms}
sink: {tsink: {name: ddb-out}}
`)
	if got := sink.bodies(); len(got) != 2 || sum.Filtered != 1 || sum.Acked != 2 {
		t.Fatalf("sink got %q, summary %+v", got, sum)
	}
}
