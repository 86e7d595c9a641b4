package runtime_test

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/runtime"
)

// sizedSource serves bodies in order, then EOF (closing eof), and
// records the bytes it has handed out and not had acked or nacked.
type sizedSource struct {
	bodies        []string
	next          int
	eof           chan struct{}
	mu            sync.Mutex
	held, maxHeld int64
	acked, nacked int
}

func newSizedSource(t *testing.T, name string, bodies []string) *sizedSource {
	s := &sizedSource{bodies: bodies, eof: make(chan struct{})}
	fixtures.Store(name, s)
	t.Cleanup(func() { fixtures.Delete(name) })
	return s
}

func (s *sizedSource) Read(ctx context.Context, buf []*message.Message) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next == len(s.bodies) {
		close(s.eof)
		return 0, io.EOF
	}
	n := 0
	for ; n < len(buf) && s.next < len(s.bodies); n++ {
		body := s.bodies[s.next]
		buf[n] = &message.Message{ID: fmt.Sprint(s.next), Raw: []byte(body)}
		s.held += int64(len(body))
		s.next++
	}
	s.maxHeld = max(s.maxHeld, s.held)
	return n, nil
}

func (s *sizedSource) settled(m *message.Message, ack bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.held -= int64(len(m.Raw))
	if ack {
		s.acked++
	} else {
		s.nacked++
	}
}

func (s *sizedSource) Ack(m *message.Message)           { s.settled(m, true) }
func (s *sizedSource) Nack(m *message.Message, _ error) { s.settled(m, false) }
func (s *sizedSource) Close() error                     { return nil }

func (s *sizedSource) state() (held, maxHeld int64, acked, nacked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.held, s.maxHeld, s.acked, s.nacked
}

// bodiesOf returns n JSON strings of exactly size bytes, each naming its index.
func bodiesOf(n, size int) []string {
	out := make([]string, n)
	for i := range out {
		head := fmt.Sprintf(`"%d:`, i)
		out[i] = head + strings.Repeat("x", size-len(head)-1) + `"`
	}
	return out
}

// runBudgeted runs flow to the end with observers. It fails the test
// if the flow does not end within 30s: a stop then would drain it.
func runBudgeted(t *testing.T, flow string, obs ...runtime.Observer) runtime.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum, err := runtime.New(compile(t, flow), runtime.Options{Observers: obs}).Run(ctx)
	if err != nil || ctx.Err() != nil {
		t.Fatalf("run: %v (timed out: %v)", err, ctx.Err() != nil)
	}
	return sum
}

// A flow whose sink is stalled reads up to max_in_flight_bytes and stops:
// the sink writes only when the test lets it, and the test lets it once
// each time reading waits on the budget (a budget_full event), so the
// source would run far ahead if the budget did not hold. It holds the
// budget, never more than the budget plus one message, and delivers
// every message, in order, each acked once.
func TestBudgetBoundsTheBytesAFlowHolds(t *testing.T) {
	const size, budget, count = 10_000, 100_000, 200
	bodies := bodiesOf(count, size)
	src := newSizedSource(t, "bb", bodies)
	sink := newSink(t, "bb-out")
	gate := make(chan struct{})
	gated := &gatedSink{inner: sink, gate: gate}
	fixtures.Store("bb-gated", gated)
	t.Cleanup(func() { fixtures.Delete("bb-gated") })

	full := make(chan int64, 10*count) // a few waits per message at most
	obs := runtime.ObserverFunc(func(e runtime.Event) {
		if e.Kind == runtime.EventBudgetFull {
			full <- e.Bytes
		}
	})
	var fulls atomic.Int64
	stop := make(chan struct{})
	go func() { // one write per wait on the budget; all once the source is done
		for {
			select {
			case held := <-full:
				fulls.Add(1)
				if held < budget || held > budget+size {
					t.Errorf("reading waits with %d bytes held, want the budget %d to %d", held, budget, budget+size)
				}
				select {
				case gate <- struct{}{}:
				case <-src.eof:
					close(gate)
					return
				}
			case <-src.eof:
				close(gate)
				return
			case <-stop:
				return
			}
		}
	}()
	defer close(stop)

	sum := runBudgeted(t, fmt.Sprintf(`
version: 1
name: bb
source: {tsrc: {name: bb}}
concurrency: 1
max_in_flight_bytes: %d
sink: {tsink: {name: bb-gated}}
`, budget), obs)

	held, maxHeld, acked, nacked := src.state()
	if maxHeld > budget+size || maxHeld < budget {
		t.Errorf("the source had up to %d bytes out, want the budget %d up to one message more (%d)", maxHeld, budget, budget+size)
	}
	if fulls.Load() == 0 {
		t.Error("reading never waited on the budget")
	}
	if got := sink.bodies(); !slices.Equal(got, bodies) {
		t.Errorf("sink got %d messages, want the %d read, in order", len(got), count)
	}
	if held != 0 || acked != count || nacked != 0 || sum.In != count || sum.Out != count || sum.Lost != 0 {
		t.Errorf("held %d, acked %d, nacked %d, summary %+v; want everything delivered and acked once", held, acked, nacked, sum)
	}
}

// A message larger than the whole budget still passes, alone: the flow
// reads it only when it holds nothing else, and reads nothing more
// while it is in flight.
func TestMessageLargerThanTheBudgetPassesAlone(t *testing.T) {
	const size, budget, count = 50_000, 20_000, 5
	bodies := bodiesOf(count, size)
	src := newSizedSource(t, "big", bodies)
	sink := newSink(t, "big-out")
	sum := runBudgeted(t, fmt.Sprintf(`
version: 1
name: big
source: {tsrc: {name: big}}
max_in_flight_bytes: %d
sink: {tsink: {name: big-out}}
`, budget))
	_, maxHeld, acked, _ := src.state()
	if maxHeld != size {
		t.Errorf("up to %d bytes out at once, want one message (%d)", maxHeld, size)
	}
	if got := sink.bodies(); !slices.Equal(got, bodies) || acked != count || sum.Out != count {
		t.Errorf("sink got %d messages, acked %d, summary %+v; want all %d", len(got), acked, sum, count)
	}
}

// An open batch holds bytes that only its flush gives back: when reading
// waits on the budget, open batches flush at once rather than after their
// timeout (an hour), and every message is delivered.
func TestBudgetFlushesOpenBatchesEarly(t *testing.T) {
	const size, budget, count = 1_000, 10_000, 100
	bodies := bodiesOf(count, size)
	src := newSizedSource(t, "bf", bodies)
	sink := newSink(t, "bf-out")
	sum := runBudgeted(t, fmt.Sprintf(`
version: 1
name: bf
source: {tsrc: {name: bf}}
max_in_flight_bytes: %d
stages:
  - batch: {size: 1000, timeout: 1h}
sink: {tsink: {name: bf-out}}
`, budget))
	_, maxHeld, acked, _ := src.state()
	if got := sink.bodies(); len(got) != count || acked != count || sum.Out != count {
		t.Errorf("sink got %d messages, acked %d, summary %+v; want all %d", len(got), acked, sum, count)
	}
	if maxHeld > budget+size {
		t.Errorf("up to %d bytes out, want at most %d", maxHeld, budget+size)
	}
	for _, n := range sink.writeSizes() {
		if n*size > budget+size {
			t.Errorf("a batch of %d messages: larger than the budget allows", n)
		}
	}
}

// gatedSink writes to inner once the gate lets it (a receive, or the
// gate closed).
type gatedSink struct {
	inner *fakeSink
	gate  chan struct{}
}

func (g *gatedSink) Write(ctx context.Context, msgs []*message.Message) error {
	select {
	case <-g.gate:
	case <-ctx.Done():
		return ctx.Err()
	}
	return g.inner.Write(ctx, msgs)
}

func (g *gatedSink) Close() error { return nil }
