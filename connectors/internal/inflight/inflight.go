// Package inflight holds what broker sources without a prefetch knob of
// their own (Redis, PostgreSQL, the webhook) need to keep demand bounded:
// a count of messages handed out and not yet settled, and a queue of
// nacked messages waiting to be handed out again.
package inflight

import (
	"context"
	"sync"
	"time"

	"github.com/flowrun/flowrun/message"
)

// Limit counts messages handed out and not yet settled, so a source never
// holds more than max of them.
type Limit struct {
	mu     sync.Mutex
	out    int
	max    int
	free   chan struct{} // signalled when out drops
	closed error         // what acquire returns once stop is closed
}

// NewLimit returns a Limit of max; acquire returns closed once its stop
// channel is closed.
func NewLimit(max int, closed error) *Limit {
	return &Limit{max: max, free: make(chan struct{}, 1), closed: closed}
}

// Acquire waits until some of want fit, and takes up to want.
func (l *Limit) Acquire(ctx context.Context, stop <-chan struct{}, want int) (int, error) {
	for {
		l.mu.Lock()
		if avail := l.max - l.out; avail > 0 {
			n := min(want, avail)
			l.out += n
			l.mu.Unlock()
			return n, nil
		}
		l.mu.Unlock()
		select {
		case <-l.free:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-stop:
			return 0, l.closed
		}
	}
}

// Release gives n back.
func (l *Limit) Release(n int) {
	if n <= 0 {
		return
	}
	l.mu.Lock()
	l.out -= n
	l.mu.Unlock()
	select {
	case l.free <- struct{}{}:
	default:
	}
}

// Redeliveries holds nacked messages until they are due again, each for
// the wait its Redelivery policy gives (growing with its nacks).
type Redeliveries struct {
	policy *Redelivery
	mu     sync.Mutex
	queue  []due
}

type due struct {
	m  *message.Message
	at time.Time
}

// NewRedeliveries returns a queue whose waits policy decides.
func NewRedeliveries(policy *Redelivery) *Redeliveries { return &Redeliveries{policy: policy} }

// Add queues m, nacked for err, to be handed out again once its wait has
// passed. Messages are known to the policy by their ID.
func (r *Redeliveries) Add(m *message.Message, err error, attrs ...any) {
	delay := r.policy.Nacked(m.ID, err, append(attrs, "id", m.ID)...)
	r.mu.Lock()
	r.queue = append(r.queue, due{m: m, at: time.Now().Add(delay)})
	r.mu.Unlock()
}

// Acked tells the policy m was acked: its next nack waits the first delay.
func (r *Redeliveries) Acked(m *message.Message) {
	r.policy.Acked(func() string { return m.ID })
}

// Take moves the due messages into buf and returns how many.
func (r *Redeliveries) Take(buf []*message.Message) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	now, n := time.Now(), 0
	keep := r.queue[:0]
	for _, d := range r.queue {
		if n < len(buf) && !d.at.After(now) {
			buf[n] = d.m
			n++
			continue
		}
		keep = append(keep, d)
	}
	clear(r.queue[len(keep):])
	r.queue = keep
	r.policy.HandedOut(n)
	return n
}

// Next returns how long until the first one is due (ok false when none).
func (r *Redeliveries) Next() (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) == 0 {
		return 0, false
	}
	first := r.queue[0].at
	for _, d := range r.queue[1:] {
		if d.at.Before(first) {
			first = d.at
		}
	}
	return max(time.Until(first), 0), true
}
