// Package middleware holds the middleware kinds of a flow (retry,
// timeout, throttle, dedupe, circuit_breaker), one file each, and Chain,
// which the runtime uses to compose them around the per-message handler
// and the sink writer.
package middleware

import (
	"context"
	"fmt"
	"time"

	"github.com/flowrun/flowrun/registry"
)

// asConfig returns the decoded value of a middleware, which the compiler
// checked against the spec's Value (an Object).
func asConfig(kind string, value any) (registry.Config, error) {
	cfg, ok := value.(registry.Config)
	if !ok {
		return nil, fmt.Errorf("%s: want an object of settings, got %T", kind, value)
	}
	return cfg, nil
}

// positive checks a duration setting that must be above zero.
func positive(cfg registry.Config, name string) error {
	if d := cfg.Duration(name); d <= 0 {
		return registry.At(fmt.Errorf("%s must be a positive duration such as 100ms or 5s, got %s", name, d), name)
	}
	return nil
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
