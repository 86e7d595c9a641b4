package middleware

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func TestThrottleHoldsTheCallAfterTheBurst(t *testing.T) {
	mw := build(t, "throttle", registry.Config{"per_second": 0.001, "burst": 3})
	var calls atomic.Int32
	count := func(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
		calls.Add(1)
		return append(out, m), nil
	}
	// Two processors, each with its own wrapped chain, share the bucket.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p1, p2 := mw.Wrap(count), mw.Wrap(count)
	x1, x2 := newExec(ctx), newExec(ctx)
	for i, h := range []registry.Handler{p1, p2, p1} {
		x := x1
		if i == 1 {
			x = x2
		}
		if _, err := h(x, newMessage("m", "{}", nil, nil), nil); err != nil {
			t.Fatalf("call %d within the burst: %v", i+1, err)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := p2(x2, newMessage("m4", "{}", nil, nil), nil)
		done <- err
	}()
	select {
	case err := <-done:
		t.Fatalf("the 4th call returned (%v) instead of waiting for a token", err)
	case <-time.After(50 * time.Millisecond):
	}
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled once the flow stops", err)
	}
	if n := calls.Load(); n != 3 {
		t.Fatalf("handler ran %d times, want 3", n)
	}
}

func TestThrottleRejectsBadSettings(t *testing.T) {
	if _, err := buildErr("throttle", registry.Config{"per_second": 0.0, "burst": 1}); err == nil {
		t.Fatal("want an error for per_second 0")
	}
	if _, err := buildErr("throttle", registry.Config{"per_second": 10.0, "burst": 0}); err == nil {
		t.Fatal("want an error for burst 0")
	}
}
