package middleware

import (
	"context"
	"fmt"
	"log/slog"
	"runtime/debug"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// Chain wraps the handler h and the sink writer w in ms, first = outermost.
// Recovery sits innermost, around h and w themselves: a panicking stage
// or sink becomes an error of that message or write, which every
// middleware then sees as such (the circuit breaker counts it, retry
// gives up on it). A nil h or w stays nil.
//
// State that spans messages lives in the built Middleware (throttle's
// bucket, dedupe's keys) and is shared by every chain; the circuit
// breaker keeps one circuit per wrapped writer, so wrap each sink's
// writer once and share that writer between its goroutines.
func Chain(ms []*registry.Middleware, h registry.Handler, w registry.Writer) (registry.Handler, registry.Writer) {
	if h != nil {
		h = RecoverHandler(h)
	}
	if w != nil {
		w = RecoverWriter(w, nil)
	}
	for i := len(ms) - 1; i >= 0; i-- {
		if ms[i].Wrap != nil && h != nil {
			h = ms[i].Wrap(h)
		}
		if ms[i].WrapWrite != nil && w != nil {
			w = ms[i].WrapWrite(w)
		}
	}
	return h, w
}

// PanicError is a panic turned into an error. Retry does not retry it:
// the same input panics again.
type PanicError struct {
	Value any
}

func (e *PanicError) Error() string { return fmt.Sprintf("panic: %v", e.Value) }

// RecoverHandler turns a panic in next into an error of that message and
// logs the stack with x.Logger.
func RecoverHandler(next registry.Handler) registry.Handler {
	return func(x *registry.Exec, m *message.Message, out []*message.Message) (res []*message.Message, err error) {
		defer func() {
			if v := recover(); v != nil {
				logger := x.Logger
				if logger == nil {
					logger = registry.LoggerOf(x.Ctx)
				}
				logger.Error("stage panicked", "stage", x.Stage, "id", m.ID,
					"panic", v, "stack", string(debug.Stack()))
				res, err = out, &PanicError{Value: v}
			}
		}()
		return next(x, m, out)
	}
}

// RecoverWriter turns a panic in next into an error of that write and
// logs the stack with logger (nil: the flow's, from ctx).
func RecoverWriter(next registry.Writer, logger *slog.Logger) registry.Writer {
	return func(ctx context.Context, msgs []*message.Message) (err error) {
		defer func() {
			if v := recover(); v != nil {
				log := logger
				if log == nil {
					log = registry.LoggerOf(ctx)
				}
				log.Error("sink write panicked", "messages", len(msgs), "panic", v, "stack", string(debug.Stack()))
				err = &PanicError{Value: v}
			}
		}()
		return next(ctx, msgs)
	}
}
