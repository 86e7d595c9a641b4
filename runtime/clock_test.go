package runtime_test

import (
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/runtime"
)

// stepClock moves only when the test says so.
type stepClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*stepTimer
}

type stepTimer struct {
	c      *stepClock
	ch     chan time.Time
	when   time.Time
	active bool
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *stepClock) NewTimer(d time.Duration) runtime.Timer {
	t := &stepTimer{c: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

func (c *stepClock) advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if t.active && !t.when.After(c.now) {
			t.active = false
			select {
			case t.ch <- c.now:
			default:
			}
		}
	}
}

func (t *stepTimer) C() <-chan time.Time { return t.ch }

func (t *stepTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

func (t *stepTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.when, t.active = t.c.now.Add(d), true
	return was
}

// A batch's timeout is measured on Options.Clock: an hour on the given
// clock flushes a partial batch while the source is open, at once.
func TestBatchTimeoutRunsOnTheGivenClock(t *testing.T) {
	src := newSource(t, "vclk", `1`)
	src.hold = true
	sink := newSink(t, "vclk-out")
	flow := compile(t, `
version: 1
name: vclk
source: {tsrc: {name: vclk}}
stages:
  - batch: {size: 2, timeout: 1h}
sink: {tsink: {name: vclk-out}}
`)
	clock := &stepClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)}
	added := make(chan struct{}, 1)
	obs := runtime.ObserverFunc(func(e runtime.Event) {
		if e.Kind == runtime.EventStageStop && e.Node == "batch_0" { // the message is in its batch
			select {
			case added <- struct{}{}:
			default:
			}
		}
	})
	stop := make(chan struct{})
	defer close(stop)
	go func() {
		select {
		case <-added:
			clock.advance(time.Hour)
		case <-stop:
		}
	}()
	start := time.Now()
	runUntil(t, flow, runtime.Options{Clock: clock, Observers: []runtime.Observer{obs}}, "a write",
		func() bool { return len(sink.writeSizes()) > 0 })
	if sizes := sink.writeSizes(); !slices.Equal(sizes, []int{1}) {
		t.Fatalf("write sizes %v, want [1]", sizes)
	}
	if took := time.Since(start); took > 20*time.Second {
		t.Fatalf("took %s", took)
	}
}
