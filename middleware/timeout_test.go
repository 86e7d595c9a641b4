package middleware

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func TestTimeoutSpecAcceptsShorthand(t *testing.T) {
	spec, _ := registry.LookupMiddleware("timeout")
	if spec.Value.Type != registry.Object || spec.Value.Shorthand != "duration" {
		t.Fatalf("timeout value = %+v, want an Object with shorthand duration", spec.Value)
	}
	if _, err := buildErr("timeout", registry.Config{"duration": time.Duration(0)}); err == nil {
		t.Fatal("want an error for a zero duration")
	}
}

func TestTimeoutWriteSeesDeadline(t *testing.T) {
	w := build(t, "timeout", registry.Config{"duration": 10 * time.Millisecond}).WrapWrite(
		func(ctx context.Context, _ []*message.Message) error {
			<-ctx.Done() // a broker that never answers
			return ctx.Err()
		})
	err := w(context.Background(), nil)
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "timed out after 10ms") {
		t.Fatalf("err = %v, want deadline exceeded, timed out after 10ms", err)
	}
}

func TestTimeoutWriteLeavesCallerCancelAlone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	w := build(t, "timeout", registry.Config{"duration": time.Hour}).WrapWrite(
		func(ctx context.Context, _ []*message.Message) error { cancel(); <-ctx.Done(); return ctx.Err() })
	err := w(ctx, nil)
	if !errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "timed out") {
		t.Fatalf("err = %v, want the caller's cancel, not a timeout", err)
	}
}

func TestTimeoutBoundsWaitsInsideTheHandler(t *testing.T) {
	parent := context.Background()
	x := newExec(parent)
	var inner context.Context
	calls := 0
	// timeout outside a throttle that lets one message through per ~17 minutes.
	h, _ := Chain([]*registry.Middleware{
		build(t, "timeout", registry.Config{"duration": time.Second}), // the throttle fails at once past it
		build(t, "throttle", registry.Config{"per_second": 0.001, "burst": 1}),
	}, func(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
		calls++
		inner = x.Ctx
		return append(out, m), nil
	}, nil)
	if _, err := h(x, newMessage("m1", "{}", nil, nil), nil); err != nil {
		t.Fatal(err)
	}
	if _, ok := inner.Deadline(); !ok || x.Ctx != parent {
		t.Fatal("want a deadline inside the handler and the parent context restored after it")
	}
	if inner.Err() == nil {
		t.Fatal("the handler's deadline context must be released after the call")
	}
	// The second message would wait far past the deadline: it fails at once.
	if _, err := h(x, newMessage("m2", "{}", nil, nil), nil); err == nil || calls != 1 {
		t.Fatalf("err=%v calls=%d, want a throttle error within the timeout and no second call", err, calls)
	}
}
