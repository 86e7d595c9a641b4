package middleware

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestDedupe(t *testing.T, key string, ttl time.Duration, maxKeys int) (*dedupe, *fakeClock) {
	t.Helper()
	p, err := expression.Compile(key, expression.MessageScope)
	if err != nil {
		t.Fatal(err)
	}
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	return newDedupe(p, ttl, maxKeys, clock.now), clock
}

// event is a message whose dedupe key (meta.event_id) is id.
func event(id string) *message.Message {
	return newMessage("msg-"+id, `{"id":"`+id+`"}`, map[string]string{"event_id": id}, nil)
}

// handle runs m through the dedupe handler and reports whether next ran.
func handle(t *testing.T, h registry.Handler, m *message.Message) bool {
	t.Helper()
	out, err := h(newExec(context.Background()), m, nil)
	if err != nil {
		t.Fatal(err)
	}
	return len(out) == 1 && out[0] == m
}

func TestDedupeDropsOnlyAfterAck(t *testing.T) {
	d, _ := newTestDedupe(t, "meta.event_id", time.Minute, 10)
	calls := 0
	h := d.middleware().Wrap(passThrough(&calls))

	first := event("e1")
	if !handle(t, h, first) || d.claimedKey(first.Tracker) != "e1" {
		t.Fatalf("first copy not processed or key not claimed (%q)", d.claimedKey(first.Tracker))
	}
	d.middleware().OnSettle(first.Tracker)
	dup := event("e1")
	if handle(t, h, dup) || d.claimedKey(dup.Tracker) != "" {
		t.Fatal("copy after ack was not dropped, or was marked to be remembered")
	}
	if !handle(t, h, event("e2")) || calls != 2 {
		t.Fatalf("calls = %d, want 2 (e1, e2)", calls)
	}
}

// A copy arriving while the first is in flight waits for the first's
// outcome: dropped when it is acked, handled when it failed. It sends on
// what its goroutine handled before waiting (the first may be there).
func TestDedupeInFlightCopyWaitsForTheFirst(t *testing.T) {
	for _, firstFails := range []bool{false, true} {
		t.Run(map[bool]string{false: "first acked", true: "first failed"}[firstFails], func(t *testing.T) {
			d, _ := newTestDedupe(t, "meta.event_id", time.Minute, 10)
			mw := d.middleware()
			calls := 0
			h := mw.Wrap(passThrough(&calls))
			first := event("e1")
			if !handle(t, h, first) {
				t.Fatal("first copy not processed")
			}
			flushed := make(chan struct{})
			x := newExec(context.Background())
			x.Flush = func() { close(flushed) }
			copyDone := make(chan bool)
			go func() {
				out, err := h(x, event("e1"), nil)
				if err != nil {
					t.Error(err)
				}
				copyDone <- len(out) == 1
			}()
			<-flushed // the copy waits now
			if firstFails {
				first.Tracker.Failed(message.Failure{Err: errors.New("sink down")})
			}
			mw.OnSettle(first.Tracker)
			if handled := <-copyDone; handled != firstFails {
				t.Fatalf("copy handled = %v, want %v", handled, firstFails)
			}
		})
	}
}

// A wait ends with the flow's work context (the drain timed out).
func TestDedupeWaitEndsWithTheContext(t *testing.T) {
	d, _ := newTestDedupe(t, "meta.event_id", time.Minute, 10)
	calls := 0
	h := d.middleware().Wrap(passThrough(&calls))
	handle(t, h, event("e1"))
	ctx, cancel := context.WithCancel(context.Background())
	x := newExec(ctx)
	x.Flush = cancel
	if _, err := h(x, event("e1"), nil); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
}

// The same message handled again (the retry middleware) is not its own duplicate.
func TestDedupeRetryOfTheSameMessageGoesOn(t *testing.T) {
	d, _ := newTestDedupe(t, "meta.event_id", time.Minute, 10)
	calls := 0
	h := d.middleware().Wrap(passThrough(&calls))
	m := event("e1")
	first := handle(t, h, m)
	if again := handle(t, h, m); !first || !again || calls != 2 {
		t.Fatalf("a retry of the first copy did not go on (calls %d)", calls)
	}
}

func TestDedupeProcessesRedeliveredFailure(t *testing.T) {
	d, _ := newTestDedupe(t, "meta.event_id", time.Minute, 10)
	mw := d.middleware()
	boom := errors.New("sink down")
	fail := true
	h := mw.Wrap(func(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
		if fail {
			return out, boom
		}
		return append(out, m), nil
	})
	m := event("e1")
	if _, err := h(newExec(context.Background()), m, nil); !errors.Is(err, boom) {
		t.Fatalf("err = %v, want the handler's error", err)
	}
	// The runtime settles it failed (dead letter or nack); a copy is handled.
	m.Tracker.Failed(message.Failure{Err: boom})
	mw.OnSettle(m.Tracker)
	fail = false
	redelivered := event("e1")
	if !handle(t, h, redelivered) {
		t.Fatal("redelivered message was dropped")
	}
	mw.OnSettle(redelivered.Tracker)
	if handle(t, h, event("e1")) {
		t.Fatal("copy after a successful ack was not dropped")
	}
}

func TestDedupeForgetsAfterTTL(t *testing.T) {
	d, clock := newTestDedupe(t, "meta.event_id", 10*time.Minute, 10)
	calls := 0
	h := d.middleware().Wrap(passThrough(&calls))
	m := event("e1")
	handle(t, h, m)
	d.onSettle(m.Tracker)
	clock.advance(10*time.Minute - time.Second)
	if handle(t, h, event("e1")) {
		t.Fatal("dropped nothing within the ttl")
	}
	clock.advance(time.Second)
	again := event("e1")
	if !handle(t, h, again) {
		t.Fatal("still dropped once the ttl passed")
	}
	again.Tracker.Failed(message.Failure{Err: errors.New("x")})
	d.onSettle(again.Tracker)
	// Expired keys are swept when another key is remembered.
	other := event("e2")
	handle(t, h, other)
	d.onSettle(other.Tracker)
	if n := d.size(); n != 1 {
		t.Fatalf("%d keys held, want 1 (e1 expired)", n)
	}
}

func TestDedupeEvictsOldestBeyondMaxKeys(t *testing.T) {
	d, clock := newTestDedupe(t, "meta.event_id", time.Hour, 2)
	calls := 0
	h := d.middleware().Wrap(passThrough(&calls))
	// a, then b, then c are acked: a is the oldest, and goes.
	for _, id := range []string{"a", "b", "c"} {
		m := event(id)
		if !handle(t, h, m) {
			t.Fatalf("%s: nothing is remembered yet: nothing may be dropped", id)
		}
		d.onSettle(m.Tracker)
		clock.advance(time.Second)
	}
	if n := d.size(); n != 2 {
		t.Fatalf("%d keys held, want 2", n)
	}
	for id, dropped := range map[string]bool{"a": false, "b": true, "c": true} {
		if handle(t, h, event(id)) == dropped {
			t.Errorf("key %s: dropped = %v, want %v", id, !dropped, dropped)
		}
	}
}

func TestDedupeEmptyKeyIsNeverADuplicate(t *testing.T) {
	d, _ := newTestDedupe(t, "meta.event_id", time.Hour, 10)
	calls := 0
	h := d.middleware().Wrap(passThrough(&calls))
	for range 2 {
		m := newMessage("no-key", "{}", nil, nil)
		if !handle(t, h, m) {
			t.Fatal("message without a key was dropped")
		}
		d.onSettle(m.Tracker)
	}
	if d.size() != 0 {
		t.Fatal("an empty key was remembered")
	}
}

func TestDedupeKeyDecodeErrorIsADecodeError(t *testing.T) {
	d, _ := newTestDedupe(t, "payload", time.Hour, 10)
	calls := 0
	h := d.middleware().Wrap(passThrough(&calls))
	_, err := h(newExec(context.Background()), newMessage("bad", "{not json", nil, nil), nil)
	var de *registry.DecodeError
	if !errors.As(err, &de) || calls != 0 {
		t.Fatalf("err=%v calls=%d, want a DecodeError and no call", err, calls)
	}
	if !handle(t, h, newMessage("ok", `{"id": 7}`, nil, nil)) {
		t.Fatal("payload key not evaluated")
	}
}

func TestDedupeConcurrentUse(t *testing.T) {
	d, _ := newTestDedupe(t, "meta.event_id", time.Hour, 50)
	mw := d.middleware()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			calls := 0
			h := mw.Wrap(passThrough(&calls))
			x := newExec(context.Background())
			for i := range 100 {
				m := event(string(rune('a'+g)) + string(rune('0'+i%10)))
				if _, err := h(x, m, nil); err != nil {
					t.Error(err)
				}
				mw.OnSettle(m.Tracker)
			}
		})
	}
	wg.Wait()
	if n := d.size(); n != 40 {
		t.Fatalf("%d keys held, want 40 distinct keys", n)
	}
}

func TestDedupeBuildsFromConfig(t *testing.T) {
	p, _ := expression.Compile("meta.event_id", expression.MessageScope)
	mw := build(t, "dedupe", registry.Config{"key": p, "ttl": time.Minute, "max_keys": 5})
	if mw.Wrap == nil || mw.OnSettle == nil {
		t.Fatal("dedupe must wrap the handler and observe settlements")
	}
	if _, err := buildErr("dedupe", registry.Config{"key": p, "ttl": time.Minute, "max_keys": 0}); err == nil {
		t.Fatal("want an error for max_keys 0")
	}
}

// claimedKey is the key t holds in d while in flight, for tests.
func (d *dedupe) claimedKey(t *message.Tracker) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.claimed[t].key
}

// A built dedupe runs its ttl on the clock the flow's context carries
// (the runtime's Options.Clock: a test's virtual one).
func TestDedupeUsesTheFlowsClock(t *testing.T) {
	p, err := expression.Compile("meta.event_id", expression.MessageScope)
	if err != nil {
		t.Fatal(err)
	}
	mw := build(t, "dedupe", registry.Config{"key": p, "ttl": time.Minute, "max_keys": 10})
	clock := &fakeClock{t: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	x := newExec(registry.WithClock(context.Background(), clock.now))
	calls := 0
	h := mw.Wrap(passThrough(&calls))
	run := func(m *message.Message) {
		if _, err := h(x, m, nil); err != nil {
			t.Fatal(err)
		}
		mw.OnSettle(m.Tracker)
	}
	run(event("e1"))
	clock.advance(59 * time.Second)
	run(event("e1")) // dropped: within the ttl of the flow's clock
	clock.advance(2 * time.Minute)
	run(event("e1")) // processed: the ttl passed on that clock, not in real time
	if calls != 2 {
		t.Fatalf("next ran %d times, want 2", calls)
	}
}
