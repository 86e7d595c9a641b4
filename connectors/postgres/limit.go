package postgres

import (
	"context"
	"sync"
	"time"

	"github.com/flowrun/flowrun/message"
)

// limit counts entries handed out and not yet settled, so the source
// never holds more than max of them (nothing upstream bounds it).
type limit struct {
	mu   sync.Mutex
	out  int
	max  int
	free chan struct{} // signalled when out drops
}

func newLimit(max int) *limit { return &limit{max: max, free: make(chan struct{}, 1)} }

// acquire waits until some of want fit, and takes up to want.
func (l *limit) acquire(ctx context.Context, stop <-chan struct{}, want int) (int, error) {
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
			return 0, errSourceClosed
		}
	}
}

// release gives n back.
func (l *limit) release(n int) {
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

// redeliveries holds nacked messages until they are due again.
type redeliveries struct {
	mu    sync.Mutex
	delay time.Duration
	queue []due
}

type due struct {
	m  *message.Message
	at time.Time
}

func (r *redeliveries) add(m *message.Message) {
	r.mu.Lock()
	r.queue = append(r.queue, due{m: m, at: time.Now().Add(r.delay)})
	r.mu.Unlock()
}

// take moves the due messages into buf.
func (r *redeliveries) take(buf []*message.Message) int {
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
	return n
}
