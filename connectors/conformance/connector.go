package conformance

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// Run runs the connector-level suite: each check on its own fresh topic.
func Run(t *testing.T, h Harness) {
	h.defaults()
	f := h.Features
	t.Run("RoundTrip", func(t *testing.T) { h.roundTrip(t) })
	t.Run("Order", func(t *testing.T) {
		need(t, f.Order, "keeps order")
		h.order(t)
	})
	t.Run("NackRedelivers", func(t *testing.T) {
		need(t, f.Redelivery, "redelivers nacked messages")
		h.nackRedelivers(t)
	})
	t.Run("Demand", func(t *testing.T) {
		need(t, f.DemandSlack >= 0, "bounds unacknowledged messages")
		h.demand(t)
	})
	t.Run("CrashLosesNothing", func(t *testing.T) {
		need(t, f.Persistent, "keeps unacknowledged messages for the next source")
		h.crash(t)
	})
	t.Run("PartialFailure", func(t *testing.T) {
		if h.Refuse == nil {
			t.Skipf("%s: the sink refuses no single message (Harness.Refuse is unset)", h.Connector)
		}
		h.partialFailure(t)
	})
	t.Run("PartialFailureInAFlow", func(t *testing.T) {
		if h.Refuse == nil {
			t.Skipf("%s: the sink refuses no single message (Harness.Refuse is unset)", h.Connector)
		}
		h.partialFailureFlow(t)
	})
}

func need(t *testing.T, claimed bool, what string) {
	t.Helper()
	if !claimed {
		t.Skipf("the connector does not claim that its broker %s", what)
	}
}

// roundTrip: 300 messages written by 3 concurrent writers arrive exactly
// once each, intact; acks stick across a new source.
func (h *Harness) roundTrip(t *testing.T) {
	h.noLeaks(t)
	p := h.topic(t)
	snk := h.openSink(t, p.sinkCfg)
	src := h.openSource(t, p.srcCfg, 64)
	defer src.close()

	// An empty destination: Read must give up when its context ends.
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	n, err := src.Read(ctx, make([]*message.Message, 4))
	cancel()
	if n != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read on an empty destination with an expiring context = (%d, %v), want (0, context deadline exceeded)", n, err)
	}

	const total = 300
	b := newBatch(total, h.Features)
	ws := startWrites(t, snk, b.msgs, 3, 9, h.Wait)

	r := startReader(src, 16)
	defer r.halt()
	seen := make([]int, total)
	acks := make(chan *message.Message, total)
	ackDone := make(chan struct{})
	go func() { // acks come from another goroutine, as in the runtime
		defer close(ackDone)
		for m := range acks {
			src.Ack(m)
		}
	}()
	deadline := time.Now().Add(h.Wait)
	for range total {
		m := r.take(t, 1, time.Until(deadline))[0]
		i := b.index(t, m)
		seen[i]++
		b.same(t, h.Features, i, m)
		acks <- m
	}
	close(acks)
	<-ackDone
	ws.wait(t, h.Wait)
	for i, c := range seen {
		if c != 1 {
			t.Errorf("message %d delivered %d times, want once", i, c)
		}
	}
	r.quiet(t, h.Quiet, "every message was delivered and acked")

	if h.Features.Persistent {
		src.close()
		again := h.openSource(t, p.srcCfg, 64)
		defer again.close()
		r2 := startReader(again, 16)
		defer r2.halt()
		r2.quiet(t, h.Quiet, "a new source of the same group must not get acked messages again")
	}
}

// order: one writer, Writes of 10; first deliveries come in write order.
func (h *Harness) order(t *testing.T) {
	h.noLeaks(t)
	p := h.topic(t)
	snk := h.openSink(t, p.sinkCfg)
	const total = 100
	b := newBatch(total, h.Features)
	src := h.openSource(t, p.srcCfg, total)
	defer src.close()
	w := startWrite(t, snk, b.msgs, 10, h.Wait)
	defer w.wait(t, h.Wait)
	r := startReader(src, 7)
	defer r.halt()
	for next := range total {
		m := r.take(t, 1, h.Wait)[0]
		if i := b.index(t, m); i != next {
			t.Fatalf("message %d arrived where %d was expected: order not kept", i, next)
		}
		src.Ack(m)
	}
}

// nackRedelivers: of 20 messages, the 10 nacked ones come back, only they.
func (h *Harness) nackRedelivers(t *testing.T) {
	h.noLeaks(t)
	p := h.topic(t)
	snk := h.openSink(t, p.sinkCfg)
	const total = 20
	b := newBatch(total, h.Features)
	src := h.openSource(t, p.srcCfg, 64)
	defer src.close()
	ws := startWrites(t, snk, b.msgs, 4, 5, h.Wait)
	defer ws.wait(t, h.Wait)
	r := startReader(src, 8)
	defer r.halt()
	// Messages are settled as they come, as a flow does: a sink that
	// waits for the acknowledgement (a webhook) sends more only then.
	nacked, settled := map[int]bool{}, map[int]bool{}
	deadline := time.Now().Add(h.Wait)
	for len(settled) < total {
		m := r.take(t, 1, time.Until(deadline))[0]
		i := b.index(t, m)
		switch {
		case settled[i]:
			t.Fatalf("message %d came back although it was acked", i)
		case nacked[i]:
			b.same(t, h.Features, i, m)
			settled[i] = true
			src.Ack(m)
		case i%2 == 1:
			nacked[i] = true
			src.Nack(m, errors.New("conformance: nacked on purpose"))
		default:
			settled[i] = true
			src.Ack(m)
		}
	}
	r.quiet(t, h.Quiet, "every redelivered message was acked")
}

// demand: with MaxInFlight 8 and nothing acked, at most 8 + slack
// messages are handed out; acking lets the rest through.
func (h *Harness) demand(t *testing.T) {
	h.noLeaks(t)
	p := h.topic(t)
	snk := h.openSink(t, p.sinkCfg)
	const limit, total = 8, 40
	b := newBatch(total, h.Features)
	src := h.openSource(t, p.srcCfg, limit)
	defer src.close()
	ws := startWrites(t, snk, b.msgs, 4, 10, h.Wait) // all 40 offered at once
	defer ws.wait(t, h.Wait)
	r := startReader(src, 3)
	defer r.halt()

	held := r.take(t, 1, h.Wait)
	held = append(held, r.drainFor(2*h.Quiet)...)
	if max := limit + h.Features.DemandSlack; len(held) > max {
		t.Fatalf("with MaxInFlight %d and no acks the source handed out %d messages, more than %d (+%d slack)",
			limit, len(held), limit, h.Features.DemandSlack)
	}
	t.Logf("handed out %d unacknowledged messages with MaxInFlight %d", len(held), limit)
	seen := map[int]bool{}
	for _, m := range held {
		seen[b.index(t, m)] = true
		src.Ack(m)
	}
	deadline := time.Now().Add(h.Wait)
	for len(seen) < total {
		if time.Now().After(deadline) {
			t.Fatalf("after acking, %d of %d distinct messages arrived", len(seen), total)
		}
		for _, m := range r.take(t, 1, time.Until(deadline)) {
			seen[b.index(t, m)] = true
			src.Ack(m)
		}
	}
}

// crash: a source dies holding messages; the next one gets all of them.
func (h *Harness) crash(t *testing.T) {
	h.noLeaks(t)
	p := h.topic(t)
	snk := h.openSink(t, p.sinkCfg)
	const total, first = 40, 16
	b := newBatch(total, h.Features)
	a := h.openSource(t, p.srcCfg, first)
	defer a.close() // when the test fails before the crash
	ws := startWrites(t, snk, b.msgs, 5, 8, 2*h.Wait)
	ra := startReader(a, 4)
	acked := map[int]bool{}
	for n := range first { // ack every other message, hold the rest
		m := ra.take(t, 1, h.Wait)[0]
		if n%2 == 0 {
			acked[b.index(t, m)] = true
			a.Ack(m)
		}
	}
	ra.halt()
	if h.Crash == nil {
		a.close()
	} else {
		a.once.Do(func() {
			if err := h.Crash(a.Source); err != nil {
				t.Logf("crash of the first source: %v", err)
			}
		})
	}

	bsrc := h.openSource(t, p.srcCfg, 64)
	defer bsrc.close()
	rb := startReader(bsrc, 8)
	defer rb.halt()
	missing := map[int]bool{}
	for i := range total {
		if !acked[i] {
			missing[i] = true
		}
	}
	deadline := time.Now().Add(h.Wait)
	for len(missing) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("after the crash, %d unacknowledged messages never came back: %v", len(missing), keys(missing))
		}
		for _, m := range rb.take(t, 1, time.Until(deadline)) {
			i := b.index(t, m)
			if acked[i] {
				t.Logf("message %d came again although acked before the crash (allowed: at least once)", i)
			}
			delete(missing, i)
			b.same(t, h.Features, i, m)
			bsrc.Ack(m)
		}
	}
	// A message acked just as the first source died may have lost its
	// answer; its writer sends it again. Acknowledge such duplicates
	// until every write has ended, as a running flow would.
	stopAcking := rb.ackEach(bsrc)
	ws.wait(t, h.Wait)
	stopAcking()
}

func keys(m map[int]bool) []int {
	out := make([]int, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}

// source is a source under test that is closed once, whatever path the
// test takes.
type source struct {
	registry.Source
	t    *testing.T
	once sync.Once
}

func (s *source) close() {
	s.once.Do(func() {
		if err := s.Source.Close(); err != nil {
			s.t.Errorf("close source: %v", err)
		}
	})
}
