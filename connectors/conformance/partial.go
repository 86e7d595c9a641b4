package conformance

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"

	_ "github.com/flowrun/flowrun/middleware" // the retry middleware
)

// partialFailure: a write whose sink refuses some messages for good
// returns a *registry.WriteError naming exactly those, as permanent, and
// writes the others once. Then, through the retry middleware, a write
// whose refused messages can pass on a later attempt (the suite heals
// them between attempts and reports the refusal as transient, as a
// server that was restarting would) delivers every message exactly once:
// the retry writes only the failed messages again, never a delivered one.
func (h *Harness) partialFailure(t *testing.T) {
	h.noLeaks(t)
	spec := h.spec(t)
	rawSrc, rawSnk := h.Topic(t)
	rawSnk, poison := h.Refuse(t, rawSrc, rawSnk)
	snk := h.openSink(t, Config(t, spec.SinkFields, rawSnk))
	src := h.openSource(t, Config(t, spec.SourceFields, rawSrc), 64)
	defer src.close()

	const total = 10
	refused := []int{2, 7}
	first, second := newBatch(total, h.Features), newBatch(total, h.Features)
	expect := second.clone() // as sent: second's messages are poisoned and healed in place
	retry := retryWriter(t)
	// what may arrive: the first batch's accepted messages, all of the second's
	want := map[string]int{}
	for i := range total {
		want[string(second.msgs[i].Raw)] = i + total
		if !slices.Contains(refused, i) {
			want[string(first.msgs[i].Raw)] = i
		}
	}
	r := startReader(src, 8)
	defer r.halt()
	seen := map[int]int{}
	// deliver runs write while reading (a webhook answers only once its
	// message is acked) until n more wanted messages arrived.
	deliver := func(n int, write func(ctx context.Context) error) error {
		ctx, cancel := context.WithTimeout(context.Background(), h.Wait)
		defer cancel()
		done := make(chan error, 1)
		go func() { done <- write(ctx) }()
		deadline := time.Now().Add(h.Wait)
		for range n {
			m := r.take(t, 1, time.Until(deadline))[0]
			i, ok := want[string(m.Raw)]
			if !ok {
				t.Fatalf("received %.40q (id %q): a message the sink refused, or one never sent", m.Raw, m.ID)
			}
			if seen[i]++; seen[i] > 1 {
				t.Fatalf("message %d delivered twice: a write sent again a message already delivered", i)
			}
			if i < total {
				first.same(t, h.Features, i, m)
			} else {
				expect.same(t, h.Features, i-total, m)
			}
			src.Ack(m)
		}
		return <-done
	}

	originals := map[int]message.Message{}
	for _, i := range refused {
		originals[i] = *first.msgs[i]
		poison(first.msgs[i])
	}
	err := deliver(total-len(refused), func(ctx context.Context) error { return snk.Write(ctx, first.msgs) })
	var partial *registry.WriteError
	var permanent *backoff.PermanentError
	switch {
	case !errors.As(err, &partial):
		t.Fatalf("Write with messages %v refused = %v, want a *registry.WriteError naming them", refused, err)
	case !slices.Equal(partial.Failed, refused):
		t.Fatalf("WriteError names messages %v, want exactly %v (%v)", partial.Failed, refused, err)
	case !errors.As(partial.Err, &permanent):
		t.Errorf("WriteError for messages refused for good is not backoff.Permanent, so the retry middleware would write them again: %v", err)
	}

	for _, i := range refused {
		originals[i] = *second.msgs[i]
		poison(second.msgs[i])
	}
	attempts := 0
	var again []*message.Message
	healing := func(ctx context.Context, msgs []*message.Message) error {
		attempts++
		if attempts > 1 {
			again = msgs
			return snk.Write(ctx, msgs)
		}
		err := snk.Write(ctx, msgs)
		for _, i := range refused {
			*second.msgs[i] = originals[i]
		}
		if errors.As(err, &partial) && errors.As(partial.Err, &permanent) {
			err = &registry.WriteError{Failed: partial.Failed, Err: permanent.Err}
		}
		return err
	}
	if err := deliver(total, func(ctx context.Context) error { return retry(healing)(ctx, second.msgs) }); err != nil {
		t.Fatalf("write through the retry middleware, the refused messages healed after the first attempt: %v", err)
	}
	if want := []*message.Message{second.msgs[2], second.msgs[7]}; !slices.Equal(again, want) {
		t.Errorf("the retry wrote %d messages again, want only the 2 that failed", len(again))
	}
	r.quiet(t, h.Quiet, "every message the sink accepted was delivered once")
}

// retryWriter is the retry middleware's write wrapper, as a flow with
// `retry: {max_retries: 3, initial_interval: 10ms}` runs it.
func retryWriter(t *testing.T) func(registry.Writer) registry.Writer {
	t.Helper()
	spec, ok := registry.LookupMiddleware("retry")
	if !ok {
		t.Fatal("the retry middleware is not registered")
	}
	cfg := Config(t, spec.Value.Fields, map[string]any{"max_retries": 3, "initial_interval": 10 * time.Millisecond, "max_interval": 10 * time.Millisecond})
	mw, err := spec.Build(&registry.Build{Flow: "conformance", Stage: "sink"}, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return mw.WrapWrite
}

// clone copies b's messages, so that changing them leaves the copy as sent.
func (b *batch) clone() *batch {
	c := *b
	c.msgs = make([]*message.Message, len(b.msgs))
	for i, m := range b.msgs {
		cp := *m
		c.msgs[i] = &cp
	}
	return &c
}
