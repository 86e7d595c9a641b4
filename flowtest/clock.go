package flowtest

import (
	"context"
	"sync"
	"time"

	"github.com/flowrun/flowrun/runtime"
)

// virtualClock is the time a test's batch timeouts run on: it stands
// still until the test waits (Advance), so `timeout: 1h` costs nothing.
type virtualClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*virtualTimer
	// changed is closed and replaced when a fired timer is handled.
	changed chan struct{}
}

var _ runtime.Clock = (*virtualClock)(nil)

func newVirtualClock() *virtualClock {
	return &virtualClock{now: time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), changed: make(chan struct{})}
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *virtualClock) NewTimer(d time.Duration) runtime.Timer {
	t := &virtualTimer{c: c, ch: make(chan time.Time, 1)}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	t.Reset(d)
	return t
}

// Advance moves the clock on by d, fires the timers now due and waits
// until their owners have handled them (stopped or reset them: the
// batcher does once it has flushed the batches due).
func (c *virtualClock) Advance(ctx context.Context, d time.Duration) error {
	c.mu.Lock()
	c.now = c.now.Add(d)
	for _, t := range c.timers {
		if t.active && !t.when.After(c.now) {
			t.fire(c.now)
		}
	}
	c.mu.Unlock()
	for {
		c.mu.Lock()
		pending, changed := false, c.changed
		for _, t := range c.timers {
			pending = pending || t.fired
		}
		c.mu.Unlock()
		if !pending {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// virtualTimer is a timer of a virtualClock; its fields are guarded by
// the clock's mutex.
type virtualTimer struct {
	c      *virtualClock
	ch     chan time.Time
	when   time.Time
	active bool
	fired  bool // fired and not yet stopped or reset by its owner
}

func (t *virtualTimer) C() <-chan time.Time { return t.ch }

// fire sends now; the caller holds the clock's mutex.
func (t *virtualTimer) fire(now time.Time) {
	t.active, t.fired = false, true
	select {
	case <-t.ch: // a stale value: the newest time wins
	default:
	}
	t.ch <- now
}

func (t *virtualTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	t.handled()
	return was
}

func (t *virtualTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.handled()
	t.when, t.active = t.c.now.Add(d), true
	if d <= 0 {
		t.fire(t.c.now)
	}
	return was
}

// handled records that the owner is done with a fired timer.
func (t *virtualTimer) handled() {
	if t.fired {
		t.fired = false
		close(t.c.changed)
		t.c.changed = make(chan struct{})
	}
}
