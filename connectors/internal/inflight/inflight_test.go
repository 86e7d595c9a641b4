package inflight

import (
	"context"
	"errors"
	"testing"
	"testing/synctest"
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

// In a synctest bubble time moves only when the test sleeps: "before
// due" holds however loaded the machine.
func TestRedeliveriesComeBackWhenDue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		const delay = 30 * time.Millisecond
		r := NewRedeliveries(NewRedelivery(registry.Env{}, delay, time.Second))
		if _, ok := r.Next(); ok {
			t.Fatal("empty queue has a next")
		}
		r.Add(&message.Message{ID: "a"}, nil)
		time.Sleep(time.Millisecond)
		r.Add(&message.Message{ID: "b"}, nil)
		buf := make([]*message.Message, 1)
		if n := r.Take(buf); n != 0 {
			t.Fatalf("took %d before due", n)
		}
		if wait, ok := r.Next(); !ok || wait != delay-time.Millisecond {
			t.Fatalf("next %v %v, want a due in %v", wait, ok, delay-time.Millisecond)
		}
		time.Sleep(delay - time.Millisecond)
		if n := r.Take(buf); n != 1 || buf[0].ID != "a" {
			t.Fatalf("took %d (%v), want a", n, buf[0])
		}
		if n := r.Take(buf); n != 0 {
			t.Fatalf("took %d (%v) before b is due", n, buf[0])
		}
		time.Sleep(time.Millisecond)
		if n := r.Take(buf); n != 1 || buf[0].ID != "b" {
			t.Fatalf("took %d (%v), want b", n, buf[0])
		}
	})
}
