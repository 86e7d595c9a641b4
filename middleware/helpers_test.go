package middleware

import (
	"context"
	"io"
	"log/slog"
	"testing"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// build builds a registered middleware kind from a decoded config.
func build(t *testing.T, kind string, cfg registry.Config) *registry.Middleware {
	t.Helper()
	mw, err := buildErr(kind, cfg)
	if err != nil {
		t.Fatalf("build %s: %v", kind, err)
	}
	return mw
}

func buildErr(kind string, cfg registry.Config) (*registry.Middleware, error) {
	spec, ok := registry.LookupMiddleware(kind)
	if !ok {
		panic("middleware not registered: " + kind)
	}
	return spec.Build(&registry.Build{Flow: "test"}, cfg)
}

func newExec(ctx context.Context) *registry.Exec {
	return registry.NewExec(ctx, "test", message.JSON, discardLogger())
}

// newMessage returns a message as a source reads it, with its tracker.
// acked receives the tracker once it is settled.
func newMessage(id, raw string, meta map[string]string, acked func(*message.Tracker)) *message.Message {
	m := &message.Message{ID: id, Raw: []byte(raw), Meta: meta}
	if acked == nil {
		acked = func(*message.Tracker) {}
	}
	m.Tracker = message.NewTracker(m, acked)
	return m
}

// passThrough is a handler that keeps the message and counts its calls.
func passThrough(calls *int) registry.Handler {
	return func(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
		*calls++
		return append(out, m), nil
	}
}

func discardLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }
