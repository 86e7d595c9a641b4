package inflight

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func TestLimitBoundsAndWakes(t *testing.T) {
	closed := errors.New("closed")
	l := NewLimit(3, closed)
	stop := make(chan struct{})
	if n, _ := l.Acquire(context.Background(), stop, 5); n != 3 {
		t.Fatalf("took %d of 5 with max 3", n)
	}
	got := make(chan int)
	go func() {
		n, _ := l.Acquire(context.Background(), stop, 2)
		got <- n
	}()
	select {
	case n := <-got:
		t.Fatalf("acquired %d while full", n)
	case <-time.After(20 * time.Millisecond):
	}
	l.Release(1)
	if n := <-got; n != 1 {
		t.Fatalf("after releasing 1, took %d", n)
	}
	close(stop)
	if _, err := l.Acquire(context.Background(), stop, 1); err != closed {
		t.Fatalf("err %v after stop", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := l.Acquire(ctx, make(chan struct{}), 1); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v after cancel", err)
	}
}

func TestRedeliveriesComeBackWhenDue(t *testing.T) {
	r := NewRedeliveries(NewRedelivery(registry.Env{}, 30*time.Millisecond, time.Second))
	if _, ok := r.Next(); ok {
		t.Fatal("empty queue has a next")
	}
	r.Add(&message.Message{ID: "a"}, nil)
	r.Add(&message.Message{ID: "b"}, nil)
	buf := make([]*message.Message, 1)
	if n := r.Take(buf); n != 0 {
		t.Fatalf("took %d before due", n)
	}
	wait, ok := r.Next()
	if !ok || wait <= 0 || wait > 30*time.Millisecond {
		t.Fatalf("next %v %v", wait, ok)
	}
	time.Sleep(wait + 5*time.Millisecond)
	if n := r.Take(buf); n != 1 || buf[0].ID != "a" {
		t.Fatalf("took %d (%v)", n, buf[0])
	}
	if n := r.Take(buf); n != 1 || buf[0].ID != "b" {
		t.Fatalf("took %d (%v)", n, buf[0])
	}
}
