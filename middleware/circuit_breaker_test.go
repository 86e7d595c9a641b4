package middleware

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

var errBroker = errors.New("broker down")

func isOpen(b *breaker) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	return !b.openUntil.IsZero()
}

func newBreaker(failures int, timeout time.Duration) *breaker {
	return &breaker{threshold: failures, timeout: timeout, changed: make(chan struct{}), logger: discardLogger()}
}

// failingWriter fails while fail is set and counts its calls.
type failingWriter struct {
	calls atomic.Int32
	fail  atomic.Bool
}

func (w *failingWriter) write(context.Context, []*message.Message) error {
	w.calls.Add(1)
	if w.fail.Load() {
		return errBroker
	}
	return nil
}

func TestBreakerOpensAfterConsecutiveFailuresAndHoldsWrites(t *testing.T) {
	b := newBreaker(3, time.Hour)
	sink := &failingWriter{}
	sink.fail.Store(true)
	w := b.wrapWrite(sink.write)
	for i := range 3 {
		if err := w(context.Background(), nil); !errors.Is(err, errBroker) {
			t.Fatalf("write %d: err = %v, want the broker error", i+1, err)
		}
	}
	if !isOpen(b) {
		t.Fatal("circuit still closed after 3 consecutive failures")
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- w(ctx, nil) }()
	select {
	case err := <-done:
		t.Fatalf("write returned (%v) while the circuit is open, want it to wait", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if n := sink.calls.Load(); n != 3 {
		t.Fatalf("sink called %d times, want 3 (none while open)", n)
	}
}

func TestBreakerSuccessResetsTheCount(t *testing.T) {
	b := newBreaker(2, time.Hour)
	sink := &failingWriter{}
	w := b.wrapWrite(sink.write)
	for _, fail := range []bool{true, false, true} {
		sink.fail.Store(fail)
		_ = w(context.Background(), nil)
	}
	if isOpen(b) {
		t.Fatal("opened on failures that were not consecutive")
	}
}

func TestBreakerHalfOpenTrialClosesOnSuccess(t *testing.T) {
	const timeout = 30 * time.Millisecond
	b := newBreaker(2, timeout)
	sink := &failingWriter{}
	sink.fail.Store(true)
	w := b.wrapWrite(sink.write)
	_ = w(context.Background(), nil)
	opened := time.Now() // before the failure that opens the circuit
	_ = w(context.Background(), nil)
	sink.fail.Store(false)
	if err := w(context.Background(), nil); err != nil {
		t.Fatalf("trial write: %v", err)
	}
	if waited := time.Since(opened); waited < timeout {
		t.Fatalf("trial went through after %s, before the %s timeout", waited, timeout)
	}
	if isOpen(b) || sink.calls.Load() != 3 {
		t.Fatalf("open=%v calls=%d, want closed after one trial", isOpen(b), sink.calls.Load())
	}
	// Closed: a single failure goes straight to the sink and does not reopen.
	sink.fail.Store(true)
	if err := w(context.Background(), nil); !errors.Is(err, errBroker) || isOpen(b) {
		t.Fatalf("err=%v open=%v, want one plain failure on a closed circuit", err, isOpen(b))
	}
}

// In a synctest bubble time stands still between the trial and the
// check, so the circuit is seen reopened however loaded the machine.
func TestBreakerFailedTrialReopens(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const timeout = 20 * time.Millisecond
		b := newBreaker(1, timeout)
		sink := &failingWriter{}
		sink.fail.Store(true)
		w := b.wrapWrite(sink.write)
		_ = w(context.Background(), nil)
		if err := w(context.Background(), nil); !errors.Is(err, errBroker) {
			t.Fatalf("trial err = %v, want the broker error", err)
		}
		b.mu.Lock()
		left, trial := time.Until(b.openUntil), b.trial
		b.mu.Unlock()
		if left != timeout || trial || sink.calls.Load() != 2 {
			t.Fatalf("open for %v more, trial in flight %v, calls=%d; want the circuit open again for %v after one trial",
				left, trial, sink.calls.Load(), timeout)
		}
	})
}

// In a synctest bubble, synctest.Wait returns once every writer waits:
// the trial on release, the others on the circuit.
func TestBreakerLetsOneTrialThroughAndReleasesTheOthers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		b := newBreaker(1, time.Millisecond)
		var calls atomic.Int32
		release := make(chan struct{})
		w := b.wrapWrite(func(ctx context.Context, _ []*message.Message) error {
			switch calls.Add(1) {
			case 1:
				return errBroker // opens the circuit
			case 2:
				<-release // the trial, held until the test lets it succeed
			}
			return nil
		})
		_ = w(context.Background(), nil)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() { errs <- w(context.Background(), nil) })
		}
		time.Sleep(time.Millisecond) // the circuit's timeout passes
		synctest.Wait()
		if n := calls.Load(); n != 2 {
			t.Fatalf("sink called %d times while the trial is in flight, want 2", n)
		}
		close(release)
		wg.Wait()
		close(errs)
		for err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
		if n := calls.Load(); n != 5 || isOpen(b) {
			t.Fatalf("calls=%d open=%v, want all 4 written and the circuit closed", n, isOpen(b))
		}
	})
}

func TestBreakerIgnoresWritesAbortedByShutdown(t *testing.T) {
	b := newBreaker(1, time.Hour)
	ctx, cancel := context.WithCancel(context.Background())
	w := b.wrapWrite(func(ctx context.Context, _ []*message.Message) error { cancel(); return ctx.Err() })
	if err := w(ctx, nil); !errors.Is(err, context.Canceled) || isOpen(b) {
		t.Fatalf("err=%v open=%v, want the cancel and a closed circuit", err, isOpen(b))
	}
}

func TestBreakerKeepsOneCircuitPerWriter(t *testing.T) {
	mw := build(t, "circuit_breaker", registry.Config{"failures": 1, "timeout": time.Hour})
	if mw.WrapWrite == nil || mw.Wrap != nil {
		t.Fatal("the circuit breaker wraps sink writes only")
	}
	down, up := &failingWriter{}, &failingWriter{}
	down.fail.Store(true)
	wDown, wUp := mw.WrapWrite(down.write), mw.WrapWrite(up.write)
	if err := wDown(context.Background(), nil); !errors.Is(err, errBroker) {
		t.Fatalf("err = %v, want the broker error", err)
	}
	// wDown's circuit is open for an hour; wUp's is not.
	if err := wUp(context.Background(), nil); err != nil || up.calls.Load() != 1 {
		t.Fatalf("err=%v calls=%d, want the other sink written at once", err, up.calls.Load())
	}
}

func TestBreakerRejectsBadSettings(t *testing.T) {
	if _, err := buildErr("circuit_breaker", registry.Config{"failures": 0, "timeout": time.Second}); err == nil {
		t.Fatal("want an error for failures 0")
	}
}
