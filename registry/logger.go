package registry

import (
	"context"
	"log/slog"
)

type loggerKey struct{}

// WithLogger returns ctx carrying the flow's logger, so code that gets
// only a context (a sink writer's middleware, panic recovery) logs as
// the flow does (--log-format, --log-level).
func WithLogger(ctx context.Context, l *slog.Logger) context.Context {
	return context.WithValue(ctx, loggerKey{}, l)
}

// LoggerOf returns the logger ctx carries; slog.Default() only for a
// context no flow made (tests, tools).
func LoggerOf(ctx context.Context) *slog.Logger {
	if ctx != nil {
		if l, ok := ctx.Value(loggerKey{}).(*slog.Logger); ok && l != nil {
			return l
		}
	}
	return slog.Default()
}
