package kafka

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/registry"
)

func TestCheck(t *testing.T) {
	b := startBroker(t, map[string]int32{"exists": 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var logs bytes.Buffer
	env := registry.Env{Flow: "f", Role: "sink", Logger: slog.New(slog.NewTextHandler(&logs, nil))}

	if err := check(ctx, config(sinkFields, map[string]any{"brokers": []any{b.Addr()}, "topic": "exists"}), env); err != nil {
		t.Fatalf("existing topic: %v", err)
	}
	if logs.Len() != 0 {
		t.Fatalf("existing topic logged %q", logs.String())
	}
	if err := check(ctx, config(sinkFields, map[string]any{"brokers": []any{b.Addr()}, "topic": "missing"}), env); err != nil {
		t.Fatalf("missing topic on a broker that creates topics: %v", err)
	}
	if !strings.Contains(logs.String(), "does not exist yet") || !strings.Contains(logs.String(), "topic=missing") {
		t.Fatalf("missing topic not reported: %q", logs.String())
	}
	// Looking did not create it.
	if err := check(ctx, config(sinkFields, map[string]any{"brokers": []any{b.Addr()}, "topic": "missing"}), env); err != nil ||
		strings.Count(logs.String(), "topic=missing") != 2 {
		t.Fatalf("the check created the topic: %v, %q", err, logs.String())
	}

	src := registry.Env{Flow: "f", Role: "source", Logger: env.Logger}
	err := check(ctx, sourceConfigFor(b.Addr(), "exists", "g", map[string]any{"session_timeout": time.Second}), src)
	if err == nil || !strings.Contains(err.Error(), "session_timeout") {
		t.Fatalf("short session: %v", err)
	}
	err = check(ctx, sourceConfigFor("127.0.0.1:1", "exists", "g", nil), src)
	if err == nil || !strings.Contains(err.Error(), "cannot connect to broker 127.0.0.1:1") {
		t.Fatalf("unreachable broker: %v", err)
	}
}
