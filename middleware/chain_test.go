package middleware

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// tracing records entering and leaving its handler and writer.
func tracing(name string, log *[]string) *registry.Middleware {
	return &registry.Middleware{
		Name: name,
		Wrap: func(next registry.Handler) registry.Handler {
			return func(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
				*log = append(*log, name+">")
				defer func() { *log = append(*log, "<"+name) }()
				return next(x, m, out)
			}
		},
		WrapWrite: func(next registry.Writer) registry.Writer {
			return func(ctx context.Context, msgs []*message.Message) error {
				*log = append(*log, "w"+name+">")
				defer func() { *log = append(*log, "<w"+name) }()
				return next(ctx, msgs)
			}
		},
	}
}

func TestChainFirstIsOutermost(t *testing.T) {
	var log []string
	onlyAck := &registry.Middleware{Name: "settle-only", OnSettle: func(*message.Tracker) {}}
	h, w := Chain([]*registry.Middleware{tracing("a", &log), onlyAck, tracing("b", &log)},
		func(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
			log = append(log, "handler")
			return append(out, m), nil
		},
		func(context.Context, []*message.Message) error { log = append(log, "write"); return nil })
	m := newMessage("m", "{}", nil, nil)
	out, err := h(newExec(context.Background()), m, nil)
	if err != nil || len(out) != 1 || out[0] != m {
		t.Fatalf("handler: out=%v err=%v", out, err)
	}
	if err := w(context.Background(), out); err != nil {
		t.Fatal(err)
	}
	want := []string{"a>", "b>", "handler", "<b", "<a", "wa>", "wb>", "write", "<wb", "<wa"}
	if !reflect.DeepEqual(log, want) {
		t.Fatalf("order %v, want %v", log, want)
	}
}

func TestChainKeepsNilHandlerOrWriter(t *testing.T) {
	var log []string
	h, w := Chain([]*registry.Middleware{tracing("a", &log)}, nil, nil)
	if h != nil || w != nil {
		t.Fatal("a nil handler or writer must stay nil")
	}
}

func TestRecoverTurnsPanicsIntoErrorsInsideTheChain(t *testing.T) {
	calls, writes := 0, 0
	h, w := Chain([]*registry.Middleware{fastRetry(t, 3)},
		func(*registry.Exec, *message.Message, []*message.Message) ([]*message.Message, error) {
			calls++
			panic("stage bug")
		},
		func(context.Context, []*message.Message) error { writes++; panic("sink bug") })
	prev := []*message.Message{newMessage("earlier", "{}", nil, nil)}
	out, err := h(newExec(context.Background()), newMessage("m", "{}", nil, nil), prev)
	var pe *PanicError
	if !errors.As(err, &pe) || calls != 1 {
		t.Fatalf("err=%v calls=%d, want a PanicError after one call (a panic is not retried)", err, calls)
	}
	if len(out) != 1 || out[0] != prev[0] {
		t.Fatalf("out = %v, want the caller's out", out)
	}
	if err := w(context.Background(), nil); !errors.As(err, &pe) || pe.Value != "sink bug" || writes != 1 {
		t.Fatalf("write err=%v writes=%d, want PanicError(sink bug) after one write", err, writes)
	}
}
