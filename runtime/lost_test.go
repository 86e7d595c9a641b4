package runtime_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/cenkalti/backoff/v4"
	_ "github.com/flowrun/flowrun/connectors/file"
	"github.com/flowrun/flowrun/message"
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
