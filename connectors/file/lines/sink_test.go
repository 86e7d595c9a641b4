package lines

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"sync"
	"testing"

	json "github.com/goccy/go-json"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// recorder is an io.WriteCloser that keeps each Write call apart.
type recorder struct {
	mu     sync.Mutex
	calls  []string
	closed int
	err    error
}

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.err != nil {
		return 0, r.err
	}
	r.calls = append(r.calls, string(p))
	return len(p), nil
}

func (r *recorder) Close() error { r.closed++; return nil }

func msgs(bodies ...string) []*message.Message {
	out := make([]*message.Message, len(bodies))
	for i, b := range bodies {
		out[i] = &message.Message{ID: string(rune('a' + i)), Body: []byte(b)}
	}
	return out
}

func TestSinkWritesOneLinePerMessageInOneCall(t *testing.T) {
	rec := &recorder{}
	s := NewSink("test", rec, rec, false)
	ctx := context.Background()
	if err := s.Write(ctx, msgs(`{"a":1}`, "plain text", "")); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(ctx, msgs(`"x"`)); err != nil {
		t.Fatal(err)
	}
	want := []string{"{\"a\":1}\nplain text\n\n", "\"x\"\n"}
	if !reflect.DeepEqual(rec.calls, want) {
		t.Fatalf("writes = %q, want %q (one write per call)", rec.calls, want)
	}
	if err := s.Close(); err != nil || rec.closed != 1 {
		t.Fatalf("Close = %v, closed %d times; want nil, once", err, rec.closed)
	}
	if err := s.Close(); err != nil || rec.closed != 1 {
		t.Fatalf("second Close = %v, closed %d times; want nil, still once", err, rec.closed)
	}
	if err := s.Write(ctx, msgs("late")); err == nil {
		t.Fatal("Write after Close succeeded")
	}
}

func TestSinkEnvelopeParsesBack(t *testing.T) {
	rec := &recorder{}
	s := NewSink("test", rec, nil, true)
	in := []*message.Message{
		{ID: "1", Key: "k1", Topic: "orders", Meta: map[string]string{"source": "web"}, Body: []byte(`{"amount":12.5,"tags":["a"]}`)},
		{ID: "2", Topic: "orders", Body: []byte("not json")},
		{ID: "3", Body: []byte(`"a string"`)},
		{ID: "4", Body: []byte("")},
	}
	if err := s.Write(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	if len(rec.calls) != 1 {
		t.Fatalf("%d writes, want 1", len(rec.calls))
	}
	lines := strings.Split(strings.TrimSuffix(rec.calls[0], "\n"), "\n")
	want := []map[string]any{
		{"id": "1", "key": "k1", "topic": "orders", "meta": map[string]any{"source": "web"},
			"payload": map[string]any{"amount": 12.5, "tags": []any{"a"}}},
		{"id": "2", "key": "", "topic": "orders", "meta": map[string]any{}, "payload": "not json", "payload_encoding": "text"},
		{"id": "3", "key": "", "topic": "", "meta": map[string]any{}, "payload": "a string"},
		{"id": "4", "key": "", "topic": "", "meta": map[string]any{}, "payload": "", "payload_encoding": "text"},
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d: %q", len(lines), len(want), rec.calls[0])
	}
	for i, l := range lines {
		var got map[string]any
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatalf("line %d %q is not JSON: %v", i+1, l, err)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("line %d = %v, want %v", i+1, got, want[i])
		}
	}
	if err := s.Close(); err != nil || rec.closed != 0 {
		t.Fatalf("Close = %v, closed the writer %d times; a sink without closer must not close it", err, rec.closed)
	}
}

func TestSinkErrors(t *testing.T) {
	boom := errors.New("disk full")
	rec := &recorder{err: boom}
	s := NewSink("file out.txt", rec, nil, false)
	err := s.Write(context.Background(), msgs("x"))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "file out.txt") {
		t.Fatalf("Write = %v; want it to wrap %v and name the sink", err, boom)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec.err = nil
	if err := s.Write(ctx, msgs("x")); !errors.Is(err, context.Canceled) || len(rec.calls) != 0 {
		t.Fatalf("Write on a done ctx = %v with %d writes; want context.Canceled and nothing written", err, len(rec.calls))
	}
}

// Concurrent writers never interleave inside a call.
func TestSinkConcurrentWrites(t *testing.T) {
	rec := &recorder{}
	s := NewSink("test", rec, nil, false)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 50 {
				if err := s.Write(context.Background(), msgs("1", "2", "3")); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	if len(rec.calls) != 400 {
		t.Fatalf("%d writes, want 400", len(rec.calls))
	}
	for _, c := range rec.calls {
		if c != "1\n2\n3\n" {
			t.Fatalf("a write holds %q, want \"1\\n2\\n3\\n\"", c)
		}
	}
}

// shortWriter takes up to room bytes in all, then fails like a full disk.
type shortWriter struct {
	room int
	got  []byte
}

var errFull = errors.New("no space left on device")

func (w *shortWriter) Write(p []byte) (int, error) {
	n := min(len(p), w.room)
	w.got, w.room = append(w.got, p[:n]...), w.room-n
	if n < len(p) {
		return n, errFull
	}
	return n, nil
}

// A short write names the lines it did not finish, so a retry writes
// only those: the lines written whole are not written twice.
func TestSinkShortWriteNamesTheUnwrittenLines(t *testing.T) {
	w := &shortWriter{room: 6}
	s := NewSink("file out.txt", w, nil, false)
	batch := msgs("aaa", "bbb", "ccc")
	err := s.Write(context.Background(), batch)
	var partial *registry.WriteError
	if !errors.As(err, &partial) || !reflect.DeepEqual(partial.Failed, []int{1, 2}) || !errors.Is(err, errFull) {
		t.Fatalf("Write with room for 6 bytes = %v; want a WriteError naming messages 1 and 2", err)
	}
	w.room = 100 // space again: the retry writes what failed
	if err := s.Write(context.Background(), []*message.Message{batch[1], batch[2]}); err != nil {
		t.Fatal(err)
	}
	if got, want := string(w.got), "aaa\nbbbbb\nccc\n"; got != want { // "bb": the torn line stays
		t.Fatalf("file holds %q, want %q (aaa once)", got, want)
	}
}
