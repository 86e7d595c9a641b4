package middleware

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func init() {
	registry.RegisterMiddleware(&registry.MiddlewareSpec{
		Name:    "timeout",
		Summary: "bounds each sink write attempt, and the waits (throttle, retry backoff) of the stages inside it",
		Example: "timeout: 2s",
		Value: registry.Field{Type: registry.Object, Shorthand: "duration", Fields: []registry.Field{
			{Name: "duration", Type: registry.Duration, Required: true,
				Doc: "deadline of each handler run or sink write attempt"},
		}},
		Build: buildTimeout,
	})
}

func buildTimeout(_ *registry.Build, value any) (*registry.Middleware, error) {
	cfg, err := asConfig("timeout", value)
	if err != nil {
		return nil, err
	}
	if err := positive(cfg, "duration"); err != nil {
		return nil, err
	}
	d := cfg.Duration("duration")
	return &registry.Middleware{
		Name: "timeout",
		// The handler chain is CPU-bound and cannot be interrupted; what
		// waits inside it (throttle, retry backoff) waits on x.Ctx.
		Wrap: func(next registry.Handler) registry.Handler {
			return func(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
				parent := x.Ctx
				ctx, cancel := context.WithTimeout(parent, d)
				x.Ctx = ctx
				defer func() { cancel(); x.Ctx = parent }()
				res, err := next(x, m, out)
				return res, timedOut(err, ctx, parent, d)
			}
		},
		WrapWrite: func(next registry.Writer) registry.Writer {
			return func(parent context.Context, msgs []*message.Message) error {
				ctx, cancel := context.WithTimeout(parent, d)
				defer cancel()
				return timedOut(next(ctx, msgs), ctx, parent, d)
			}
		},
	}, nil
}

// timedOut says so when err came from this middleware's deadline rather
// than from the caller's context.
func timedOut(err error, ctx, parent context.Context, d time.Duration) error {
	if err != nil && errors.Is(ctx.Err(), context.DeadlineExceeded) && parent.Err() == nil {
		return fmt.Errorf("timed out after %s: %w", d, err)
	}
	return err
}
