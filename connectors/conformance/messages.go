package conformance

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/google/uuid"
)

// batch is a set of test messages with unique, recognisable payloads.
type batch struct {
	run  string
	msgs []*message.Message
	byID map[string]int // raw payload -> index
}

// newBatch makes n messages: payload, id, key and meta all differ per
// message; with binary, every fifth payload is not UTF-8.
func newBatch(n int, f Features) *batch {
	b := &batch{run: uuid.NewString()[:8], byID: map[string]int{}}
	for i := range n {
		raw := fmt.Appendf(nil, `{"n":%d,"run":%q,"text":"h\u00e9llo \"w\u00f6rld\""}`, i, b.run)
		if f.Binary && i%5 == 4 {
			raw = fmt.Appendf([]byte{0x00, 0xff, 0xfe, '\n'}, "%d/%s", i, b.run)
		}
		m := &message.Message{
			ID:   fmt.Sprintf("id-%s-%d", b.run, i),
			Key:  "key-" + strconv.Itoa(i%7),
			Meta: map[string]string{"seq": strconv.Itoa(i), "trace-id": "t-" + b.run, "note": "a b, é"},
			Raw:  raw, Body: raw,
		}
		b.msgs = append(b.msgs, m)
		b.byID[string(raw)] = i
	}
	return b
}

// index finds which sent message got is, failing on a stranger.
func (b *batch) index(t testing.TB, got *message.Message) int {
	t.Helper()
	i, ok := b.byID[string(got.Raw)]
	if !ok {
		t.Fatalf("received a message that was never sent: id %q raw %q", got.ID, got.Raw)
	}
	return i
}

// same checks that got carries what message i was sent with.
func (b *batch) same(t testing.TB, f Features, i int, got *message.Message) {
	t.Helper()
	want := b.msgs[i]
	if f.ID && got.ID != want.ID {
		t.Errorf("message %d: id %q, want %q", i, got.ID, want.ID)
	}
	if got.ID == "" {
		t.Errorf("message %d: empty id; a source must give every message an id", i)
	}
	if f.Key && got.Key != want.Key {
		t.Errorf("message %d: key %q, want %q", i, got.Key, want.Key)
	}
	if f.Meta {
		for k, v := range want.Meta {
			if got.Meta[k] != v {
				t.Errorf("message %d: meta[%q] = %q, want %q (all meta: %v)", i, k, got.Meta[k], v, got.Meta)
			}
		}
	}
}

// write sends msgs in Writes of size chunk.
func write(ctx context.Context, snk registry.Sink, msgs []*message.Message, chunk int, wait time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, wait)
	defer cancel()
	for len(msgs) > 0 {
		n := min(chunk, len(msgs))
		if err := snk.Write(ctx, copies(msgs[:n])); err != nil {
			return fmt.Errorf("sink Write of %d messages: %w", n, err)
		}
		msgs = msgs[n:]
	}
	return nil
}

// writing is a write running in the background, as a producer would:
// some sinks (a webhook) return only once the reader acknowledged.
type writing struct {
	done   chan struct{}
	err    error
	cancel context.CancelFunc
}

// startWrite writes msgs in the background; the test's cleanup stops it.
func startWrite(t testing.TB, snk registry.Sink, msgs []*message.Message, chunk int, wait time.Duration) *writing {
	ctx, cancel := context.WithCancel(context.Background())
	w := &writing{done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(w.done)
		w.err = write(ctx, snk, msgs, chunk, wait)
	}()
	t.Cleanup(func() { cancel(); <-w.done })
	return w
}

// writings are several producers writing at once.
type writings []*writing

// startWrites spreads msgs round-robin over n background writers.
func startWrites(t testing.TB, snk registry.Sink, msgs []*message.Message, n, chunk int, wait time.Duration) writings {
	ws := make(writings, n)
	for w := range ws {
		var mine []*message.Message
		for i := w; i < len(msgs); i += n {
			mine = append(mine, msgs[i])
		}
		ws[w] = startWrite(t, snk, mine, chunk, wait)
	}
	return ws
}

func (ws writings) wait(t testing.TB, d time.Duration) {
	t.Helper()
	for _, w := range ws {
		w.wait(t, d)
	}
}

// wait fails the test when the write failed or does not end within d.
func (w *writing) wait(t testing.TB, d time.Duration) {
	t.Helper()
	select {
	case <-w.done:
	case <-time.After(d):
		w.cancel()
		<-w.done
	}
	if w.err != nil {
		t.Fatal(w.err)
	}
}

// copies gives the sink fresh messages, as the runtime would.
func copies(msgs []*message.Message) []*message.Message {
	out := make([]*message.Message, len(msgs))
	for i, m := range msgs {
		c := &message.Message{ID: m.ID, Key: m.Key, Meta: maps.Clone(m.Meta), Raw: m.Raw, Body: m.Body}
		out[i] = c
	}
	return out
}

// reader reads from a source in the background the way the runtime
// does, and hands messages to the test.
type reader struct {
	src  registry.Source
	out  chan *message.Message
	stop context.CancelFunc
	done chan struct{}
	mu   sync.Mutex
	err  error
}

// startReader reads with buffers of bufLen until stopped.
func startReader(src registry.Source, bufLen int) *reader {
	ctx, cancel := context.WithCancel(context.Background())
	r := &reader{src: src, out: make(chan *message.Message, 4096), stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(r.done)
		buf := make([]*message.Message, bufLen)
		for {
			n, err := src.Read(ctx, buf)
			for _, m := range buf[:n] {
				select {
				case r.out <- m:
				case <-ctx.Done(): // the test is over; the message stays unacked
					return
				}
			}
			if ctx.Err() != nil {
				return
			}
			if err != nil {
				r.mu.Lock()
				r.err = err
				r.mu.Unlock()
				if errors.Is(err, context.Canceled) {
					return
				}
				select { // the runtime also retries failed reads
				case <-time.After(50 * time.Millisecond):
				case <-ctx.Done():
					return
				}
			}
		}
	}()
	return r
}

// halt stops reading and waits for the reading goroutine.
func (r *reader) halt() {
	r.stop()
	<-r.done
}

// ackEach acknowledges every message read from now on, until the
// returned function is called.
func (r *reader) ackEach(src registry.Source) (stop func()) {
	quit, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		for {
			select {
			case m := <-r.out:
				src.Ack(m)
			case <-quit:
				return
			}
		}
	}()
	return func() { close(quit); <-done }
}

// take waits for n messages, failing after wait.
func (r *reader) take(t testing.TB, n int, wait time.Duration) []*message.Message {
	t.Helper()
	out := make([]*message.Message, 0, n)
	timeout := time.NewTimer(wait)
	defer timeout.Stop()
	for len(out) < n {
		select {
		case m := <-r.out:
			out = append(out, m)
		case <-timeout.C:
			r.mu.Lock()
			err := r.err
			r.mu.Unlock()
			t.Fatalf("got %d of %d messages within %s (last read error: %v)", len(out), n, wait, err)
		}
	}
	return out
}

// quiet fails when any message arrives within d.
func (r *reader) quiet(t testing.TB, d time.Duration, why string) {
	t.Helper()
	select {
	case m := <-r.out:
		t.Fatalf("%s, but message %q (raw %q) arrived", why, m.ID, m.Raw)
	case <-time.After(d):
	}
}

// count collects what arrives until nothing has come for d.
func (r *reader) drainFor(d time.Duration) []*message.Message {
	var out []*message.Message
	for {
		select {
		case m := <-r.out:
			out = append(out, m)
		case <-time.After(d):
			return out
		}
	}
}
