package stages_test

import (
	"bytes"
	"context"
	"log/slog"
	"testing"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	_ "github.com/flowrun/flowrun/stages"
)

// prog compiles a message-scoped expression.
func prog(t *testing.T, src string) *expression.Program {
	t.Helper()
	p, err := expression.Compile(src, expression.MessageScope)
	if err != nil {
		t.Fatalf("compile %q: %v", src, err)
	}
	return p
}

// entries builds a decoded Map value (name -> compiled expression).
func entries(t *testing.T, kv ...string) []registry.Entry {
	t.Helper()
	var out []registry.Entry
	for i := 0; i+1 < len(kv); i += 2 {
		out = append(out, registry.Entry{Key: kv[i], Value: prog(t, kv[i+1])})
	}
	return out
}

// step builds a stage kind from its decoded value, as the compiler would.
func step(t *testing.T, kind string, value any, sinks ...string) registry.Step {
	t.Helper()
	spec, ok := registry.LookupStage(kind)
	if !ok {
		t.Fatalf("stage kind %q is not registered", kind)
	}
	if sinks == nil {
		sinks = []string{"sink"}
	}
	built, err := spec.Build(&registry.Build{Flow: "test", Stage: kind + "-stage", Sinks: sinks}, value)
	if err != nil {
		t.Fatalf("build %s: %v", kind, err)
	}
	if built.Step == nil || built.Batch != nil {
		t.Fatalf("%s built %+v, not a Step", kind, built)
	}
	return built.Step
}

// newExec returns an Exec decoding JSON whose logs (debug and up) go to logs.
func newExec(logs *bytes.Buffer) *registry.Exec {
	logger := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	return registry.NewExec(context.Background(), "test", message.JSON, logger)
}

// newMsg returns a source message with raw JSON body and a tracker.
func newMsg(raw string) *message.Message {
	m := &message.Message{ID: "id-1", Key: "k-1", Topic: "payments", Raw: []byte(raw),
		Meta: map[string]string{"origin": "test"}}
	m.Tracker = message.NewTracker(m, func(*message.Tracker) {})
	return m
}

// sentinel stands for the messages a chain already holds in out: a stage
// must append after them, never overwrite them.
var sentinel = &message.Message{ID: "earlier"}

// apply runs s on m with out already holding the sentinel and returns
// what s appended.
func apply(t *testing.T, x *registry.Exec, s registry.Step, m *message.Message) ([]*message.Message, error) {
	t.Helper()
	out, err := s.Apply(x, m, []*message.Message{sentinel})
	if len(out) == 0 || out[0] != sentinel {
		t.Fatalf("the stage dropped or replaced what out already held: %v", out)
	}
	return out[1:], err
}
