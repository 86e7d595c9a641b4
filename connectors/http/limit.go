package http

import (
	"context"
	"sync"
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
