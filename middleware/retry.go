package middleware

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func init() {
	registry.RegisterMiddleware(&registry.MiddlewareSpec{
		Name:    "retry",
		Summary: "retries a failing message (handler chain) or sink write with exponential backoff",
		Example: "retry: {max_retries: 3, initial_interval: 100ms, max_interval: 5s}",
		Value: registry.Field{Type: registry.Object, Fields: []registry.Field{
			{Name: "max_retries", Type: registry.Int, Default: 3, Min: registry.F(0),
				Doc: "retries after the first attempt (0 = no retry)"},
			{Name: "initial_interval", Type: registry.Duration, Default: 100 * time.Millisecond,
				Doc: "wait before the first retry"},
			{Name: "max_interval", Type: registry.Duration, Default: 5 * time.Second,
				Doc: "longest wait between two attempts"},
			{Name: "multiplier", Type: registry.Float, Default: 2.0, Min: registry.F(1),
				Doc: "each wait is the previous one times this"},
			{Name: "max_elapsed", Type: registry.Duration, Default: time.Duration(0), Min: registry.F(0),
				Doc: "give up once this much time has passed since the first attempt (0 = no limit)"},
			{Name: "jitter", Type: registry.Float, Default: 0.2, Min: registry.F(0),
				Doc: "randomises each wait by +/- this fraction (0..1) so retries of many messages spread out"},
		}},
		Build: buildRetry,
	})
}

// retryPolicy is the decoded retry setting; each message or write gets
// its own backoff from it.
type retryPolicy struct {
	maxRetries               int
	initial, max, maxElapsed time.Duration
	multiplier, jitter       float64
}

func buildRetry(_ *registry.Build, value any) (*registry.Middleware, error) {
	cfg, err := asConfig("retry", value)
	if err != nil {
		return nil, err
	}
	p := &retryPolicy{
		maxRetries: cfg.Int("max_retries"), initial: cfg.Duration("initial_interval"),
		max: cfg.Duration("max_interval"), maxElapsed: cfg.Duration("max_elapsed"),
		multiplier: cfg.Float("multiplier"), jitter: cfg.Float("jitter"),
	}
	if err := positive(cfg, "initial_interval"); err != nil {
		return nil, err
	}
	switch {
	case p.maxRetries < 0:
		return nil, registry.At(fmt.Errorf("max_retries must be 0 or more, got %d", p.maxRetries), "max_retries")
	case p.max < p.initial:
		return nil, registry.At(fmt.Errorf("max_interval (%s) must be at least initial_interval (%s)", p.max, p.initial), "max_interval")
	case p.multiplier < 1:
		return nil, registry.At(fmt.Errorf("multiplier must be 1 or more, got %g", p.multiplier), "multiplier")
	case p.jitter < 0 || p.jitter > 1:
		return nil, registry.At(fmt.Errorf("jitter must be between 0 and 1, got %g", p.jitter), "jitter")
	case p.maxElapsed < 0:
		return nil, registry.At(fmt.Errorf("max_elapsed must be 0 (no limit) or positive, got %s", p.maxElapsed), "max_elapsed")
	}
	return &registry.Middleware{Name: "retry", Wrap: p.wrap, WrapWrite: p.wrapWrite}, nil
}

func (p *retryPolicy) backOff() backoff.BackOff {
	b := &backoff.ExponentialBackOff{
		InitialInterval: p.initial, RandomizationFactor: p.jitter, Multiplier: p.multiplier,
		MaxInterval: p.max, MaxElapsedTime: p.maxElapsed, Stop: backoff.Stop, Clock: backoff.SystemClock,
	}
	b.Reset()
	return backoff.WithMaxRetries(b, uint64(p.maxRetries))
}

// run calls attempt until it succeeds, fails permanently, the policy is
// exhausted or ctx ends, and returns the attempts made with the last error.
func (p *retryPolicy) run(ctx func() context.Context, attempt func(n int) error) (int, error) {
	b := p.backOff()
	for n := 1; ; n++ {
		err := attempt(n)
		if err == nil || !retryable(err) {
			return n, err
		}
		wait := b.NextBackOff()
		if wait == backoff.Stop {
			return n, err
		}
		if cerr := sleep(ctx(), wait); cerr != nil {
			return n, fmt.Errorf("%w (retry interrupted: %w)", err, cerr)
		}
	}
}

// retryable is false for errors a new attempt cannot fix: a payload the
// codec cannot decode, a panic (a bug that the same input triggers
// again), a connector's backoff.Permanent, and the end of the context.
func retryable(err error) bool {
	var decode *registry.DecodeError
	var panicked *PanicError
	var permanent *backoff.PermanentError
	return !errors.As(err, &decode) && !errors.As(err, &panicked) && !errors.As(err, &permanent) &&
		!errors.Is(err, context.Canceled)
}

func (p *retryPolicy) wrap(next registry.Handler) registry.Handler {
	return func(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
		var result []*message.Message
		_, err := p.run(func() context.Context { return x.Ctx }, func(n int) error {
			x.Attempts = n
			if n > 1 {
				Restore(m)
			}
			var err error
			// Pass out itself each time: what a failed attempt appended is discarded.
			result, err = next(x, m, out)
			return err
		})
		if err != nil {
			return out, err
		}
		return result, nil
	}
}

// wrapWrite retries a failing write. When the sink wrote part of it
// (a registry.WriteError), only the messages that failed are written
// again; the error of the last attempt names them among msgs.
func (p *retryPolicy) wrapWrite(next registry.Writer) registry.Writer {
	return func(ctx context.Context, msgs []*message.Message) error {
		pending, index := msgs, []int(nil) // index[i]: where pending[i] is in msgs; nil while pending is msgs
		n, err := p.run(func() context.Context { return ctx }, func(int) error {
			err := next(ctx, pending)
			var partial *registry.WriteError
			if errors.As(err, &partial) {
				pending, index = failedPart(pending, index, partial.Failed)
			}
			return err
		})
		if err != nil && index != nil {
			// Earlier attempts wrote the rest: only pending failed.
			var partial *registry.WriteError
			cause := err
			if errors.As(err, &partial) {
				cause = partial.Err
			}
			err = &registry.WriteError{Failed: index, Err: cause}
		}
		if err != nil && n > 1 {
			return fmt.Errorf("sink write failed after %d attempts: %w", n, err)
		}
		return err
	}
}

// failedPart returns the messages of pending that failed, and where
// they are in the write's messages.
func failedPart(pending []*message.Message, index, failed []int) ([]*message.Message, []int) {
	msgs := make([]*message.Message, 0, len(failed))
	at := make([]int, 0, len(failed))
	for _, i := range failed {
		if i < 0 || i >= len(pending) {
			continue
		}
		msgs = append(msgs, pending[i])
		if index == nil {
			at = append(at, i)
		} else {
			at = append(at, index[i])
		}
	}
	return msgs, at
}

// Restore puts m back in the state its source read it in, so a retried
// handler chain does not run on data a failed attempt changed in place.
// It keeps m's tracker and the trackers it settles.
func Restore(m *message.Message) {
	t, more := m.Tracker, m.More
	if t == nil {
		return
	}
	*m = t.Original()
	m.Tracker, m.More = t, more
	// A copy, so that changes of the next attempt never reach the
	// metadata the dead letter still needs as read.
	m.Meta = maps.Clone(m.Meta)
}
