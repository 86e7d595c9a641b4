// Package resend is the one resend path of the broker sinks (redis,
// nats, amqp, postgres): a Write sends its messages, sends again with
// exponential backoff those that failed in a way that may pass (the
// server restarting), for up to the sink's retry_for, and reports the
// rest as the registry.Sink contract asks: a *registry.WriteError naming
// exactly the messages that failed when others were delivered, so the
// retry middleware never writes a delivered message again, and
// backoff.Permanent when no failure can pass by sending again.
package resend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/flowrun/flowrun/registry"
)

// DefaultFor is retry_for's default.
const DefaultFor = 30 * time.Second

// Field is the retry_for field of each broker sink.
var Field = registry.Field{Name: "retry_for", Type: registry.Duration, Default: DefaultFor, Min: registry.F(0),
	Doc: "how long one write keeps sending again, with backoff, the messages the server did not take while it is unreachable or restarting (0 = send once); " +
		"a message it refuses for good (too large, unroutable, a value it cannot store) fails at once, and only the failed messages of a write are retried or dead-lettered"}

// Policy is one sink's resend setting.
type Policy struct {
	For     time.Duration // retry_for: 0 sends once
	Initial time.Duration // first wait (default 100ms)
	Max     time.Duration // longest wait (default 2s)
	// Resends, when > 0, also caps how often a write sends again
	// within For (kafka's retries).
	Resends int
	Logger  *slog.Logger // warns about each resend; nil: silent
	What    string       // names the sink in errors and logs, e.g. `redis sink "orders"`
}

// Of reads retry_for from a sink's config.
func Of(cfg registry.Config, logger *slog.Logger, what string) Policy {
	return Policy{For: cfg.Duration("retry_for"), Logger: logger, What: what}
}

// Permanent marks err as one that sending the message again cannot fix.
func Permanent(err error) error { return backoff.Permanent(err) }

// IsPermanent reports whether err was marked with Permanent.
func IsPermanent(err error) bool {
	var p *backoff.PermanentError
	return errors.As(err, &p)
}

// Send delivers the messages of one write. errs has one entry per
// message; an entry already set is a failure found before sending (a
// message that does not convert) and is not sent. send is called with
// the indexes still to deliver and sets errs[i] for each of them (nil:
// delivered). It returns the write's result for the Sink contract.
func (p Policy) Send(ctx context.Context, errs []error, send func(ctx context.Context, todo []int)) error {
	todo := make([]int, 0, len(errs))
	for i, err := range errs {
		if err == nil {
			todo = append(todo, i)
		}
	}
	attempt := func() error {
		if len(todo) == 0 {
			return nil
		}
		send(ctx, todo)
		again := todo[:0]
		for _, i := range todo {
			if errs[i] != nil && !IsPermanent(errs[i]) {
				again = append(again, i)
			}
		}
		todo = again
		if len(todo) == 0 {
			return nil
		}
		return errs[todo[0]]
	}
	notify := func(err error, wait time.Duration) {
		if p.Logger != nil {
			p.Logger.Warn("sending again what the server did not take", "messages", len(todo), "err", err, "backoff", wait)
		}
	}
	if err := backoff.RetryNotify(attempt, backoff.WithContext(p.backOff(), ctx), notify); err != nil && ctx.Err() != nil {
		for _, i := range todo { // interrupted while waiting to send again
			errs[i] = errors.Join(errs[i], ctx.Err())
		}
	}
	return p.Result(errs)
}

func (p Policy) backOff() backoff.BackOff {
	if p.For <= 0 {
		return &backoff.StopBackOff{}
	}
	b := backoff.NewExponentialBackOff()
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = 100*time.Millisecond, 2*time.Second, p.For
	if p.Initial > 0 {
		b.InitialInterval = p.Initial
	}
	if p.Max > 0 {
		b.MaxInterval = p.Max
	}
	b.Reset()
	if p.Resends > 0 {
		return backoff.WithMaxRetries(b, uint64(p.Resends))
	}
	return b
}

// Result turns per-message errors into a write's result: nil when every
// message was delivered, a *registry.WriteError naming the failed ones
// when some were, the error itself when none was; backoff.Permanent when
// every failure is.
func (p Policy) Result(errs []error) error {
	var failed []int
	var first error
	permanent := true
	for i, err := range errs {
		if err == nil {
			continue
		}
		failed = append(failed, i)
		permanent = permanent && IsPermanent(err)
		if first == nil {
			first = err
		}
	}
	if len(failed) == 0 {
		return nil
	}
	if perm, ok := first.(*backoff.PermanentError); ok {
		first = perm.Err // marked once, on the whole error, below
	}
	err := fmt.Errorf("%s: %d of %d messages not written: %w", p.What, len(failed), len(errs), first)
	if permanent {
		err = backoff.Permanent(err)
	}
	if len(failed) == len(errs) {
		return err
	}
	return &registry.WriteError{Failed: failed, Err: err}
}
