package registry

import (
	"context"
	"time"
)

type clockKey struct{}

// WithClock returns ctx carrying the flow's clock (runtime.Options.Clock),
// so middleware, built by the compiler before any clock exists, read the
// time the runtime runs on: a test's virtual clock moves dedupe's ttl.
func WithClock(ctx context.Context, now func() time.Time) context.Context {
	return context.WithValue(ctx, clockKey{}, now)
}

// NowOf returns the clock ctx carries; time.Now for a context no flow
// made (tests, tools).
func NowOf(ctx context.Context) func() time.Time {
	if ctx != nil {
		if now, ok := ctx.Value(clockKey{}).(func() time.Time); ok && now != nil {
			return now
		}
	}
	return time.Now
}
