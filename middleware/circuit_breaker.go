package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func init() {
	registry.RegisterMiddleware(&registry.MiddlewareSpec{
		Name: "circuit_breaker",
		Summary: "after `failures` consecutive failed sink writes, holds all writes (backpressure, not dead letters) " +
			"for `timeout`, then lets one trial write through: success resumes writing, failure holds again",
		Example: "circuit_breaker: {failures: 5, timeout: 30s}",
		Value: registry.Field{Type: registry.Object, Fields: []registry.Field{
			{Name: "failures", Type: registry.Int, Default: 5, Min: registry.F(1),
				Doc: "consecutive failed writes that open the circuit"},
			{Name: "timeout", Type: registry.Duration, Default: 30 * time.Second,
				Doc: "how long the circuit stays open before a trial write"},
		}},
		Build: buildBreaker,
	})
}

func buildBreaker(b *registry.Build, value any) (*registry.Middleware, error) {
	cfg, err := asConfig("circuit_breaker", value)
	if err != nil {
		return nil, err
	}
	if n := cfg.Int("failures"); n < 1 {
		return nil, registry.At(fmt.Errorf("failures must be 1 or more, got %d", n), "failures")
	}
	if err := positive(cfg, "timeout"); err != nil {
		return nil, err
	}
	threshold, timeout := cfg.Int("failures"), cfg.Duration("timeout")
	return &registry.Middleware{Name: "circuit_breaker", WrapWrite: func(next registry.Writer) registry.Writer {
		// One circuit per wrapped writer: one sink's outage does not hold
		// the writes of another.
		br := &breaker{threshold: threshold, timeout: timeout, changed: make(chan struct{})}
		return br.wrapWrite(next)
	}}, nil
}

// breaker is the state of one writer's circuit, safe for concurrent writes.
// Closed: writes go through. Open (openUntil set): writes wait until
// openUntil, then one of them is the trial while the others keep waiting.
type breaker struct {
	threshold int
	timeout   time.Duration
	logger    *slog.Logger // nil: the flow's, from the write's context

	mu        sync.Mutex
	failures  int       // consecutive, while closed
	openUntil time.Time // zero while closed
	trial     bool      // a trial write is in flight
	changed   chan struct{}
}

func (b *breaker) wrapWrite(next registry.Writer) registry.Writer {
	return func(ctx context.Context, msgs []*message.Message) error {
		trial, err := b.admit(ctx)
		if err != nil {
			return fmt.Errorf("circuit breaker open, write not attempted: %w", err)
		}
		err = next(ctx, msgs)
		logger := b.logger
		if logger == nil {
			logger = registry.LoggerOf(ctx)
		}
		b.record(logger, trial, err, err != nil && ctx.Err() != nil)
		return err
	}
}

// admit blocks while the circuit is open and reports whether the caller
// makes the trial write.
func (b *breaker) admit(ctx context.Context) (trial bool, err error) {
	for {
		b.mu.Lock()
		if b.openUntil.IsZero() {
			b.mu.Unlock()
			return false, nil
		}
		wait, changed := time.Until(b.openUntil), b.changed
		if wait <= 0 && !b.trial {
			b.trial = true
			b.mu.Unlock()
			return true, nil
		}
		b.mu.Unlock()
		if err := b.wait(ctx, wait, changed); err != nil {
			return false, err
		}
	}
}

// wait blocks until d has passed (d <= 0: no limit), the state changed
// or ctx is done.
func (b *breaker) wait(ctx context.Context, d time.Duration, changed <-chan struct{}) error {
	var expired <-chan time.Time
	if d > 0 {
		t := time.NewTimer(d)
		defer t.Stop()
		expired = t.C
	}
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-expired:
	case <-changed:
	}
	return nil
}

// record updates the circuit with a write's outcome. A write that failed
// because its caller's context ended (shutdown) says nothing about the sink.
func (b *breaker) record(logger *slog.Logger, trial bool, err error, aborted bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	switch {
	case trial && err == nil:
		b.failures, b.openUntil, b.trial = 0, time.Time{}, false
		logger.Info("circuit breaker closed: sink write succeeded")
		b.broadcast()
	case trial && aborted:
		b.trial = false
		b.broadcast() // let another waiter make the trial
	case trial:
		b.openUntil, b.trial = time.Now().Add(b.timeout), false
		logger.Warn("circuit breaker reopened: trial write failed", "wait", b.timeout, "error", err)
		b.broadcast()
	case !b.openUntil.IsZero():
		// A write admitted before the circuit opened: the trial decides.
	case err == nil:
		b.failures = 0
	case aborted:
	default:
		b.failures++
		if b.failures >= b.threshold {
			b.openUntil = time.Now().Add(b.timeout)
			logger.Warn("circuit breaker opened: writes wait", "failures", b.failures, "wait", b.timeout, "error", err)
		}
	}
}

// broadcast wakes every waiting writer to look at the state again.
func (b *breaker) broadcast() {
	close(b.changed)
	b.changed = make(chan struct{})
}
