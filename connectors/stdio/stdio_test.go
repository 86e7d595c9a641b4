package stdio

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	json "github.com/goccy/go-json"
	"go.uber.org/goleak"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func config(fields []registry.Field, set registry.Config) registry.Config {
	cfg := registry.Config{}
	for _, f := range fields {
		if f.Default != nil {
			cfg[f.Name] = f.Default
		}
	}
	for k, v := range set {
		cfg[k] = v
	}
	return cfg
}

// openStdin builds the registered stdin source over r.
func openStdin(t *testing.T, r io.Reader, set registry.Config, env registry.Env) registry.Source {
	t.Helper()
	old := stdin
	stdin = r
	t.Cleanup(func() { stdin = old })
	sp, ok := registry.LookupConnector("stdin")
	if !ok || sp.Source == nil || sp.Sink != nil {
		t.Fatal(`"stdin" is not registered as a source only`)
	}
	src, err := sp.Source(context.Background(), config(sp.SourceFields, set), env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

// openStdout builds the registered stdout sink over w.
func openStdout(t *testing.T, w io.Writer, set registry.Config) registry.Sink {
	t.Helper()
	old := stdout
	stdout = w
	t.Cleanup(func() { stdout = old })
	sp, ok := registry.LookupConnector("stdout")
	if !ok || sp.Sink == nil || sp.Source != nil {
		t.Fatal(`"stdout" is not registered as a sink only`)
	}
	sink, err := sp.Sink(context.Background(), config(sp.SinkFields, set), registry.Env{})
	if err != nil {
		t.Fatal(err)
	}
	return sink
}

func TestStdinLines(t *testing.T) {
	var logs bytes.Buffer
	env := registry.Env{Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	src := openStdin(t, strings.NewReader("a\r\n\nabcdefgh\n{\"b\":2}\n\r\nlast"), registry.Config{"max_line_bytes": 7}, env)
	var got []*message.Message
	for {
		buf := make([]*message.Message, 2)
		n, err := src.Read(context.Background(), buf)
		got = append(got, buf[:n]...)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	type msg struct{ ID, Topic, Raw, Err string }
	var gotm []msg
	for _, m := range got {
		e := ""
		if m.Err != nil {
			e = m.Err.Error()
		}
		gotm = append(gotm, msg{m.ID, m.Topic, string(m.Raw), e})
	}
	tooLong := "stdin: line 3 is 8 bytes, over max_line_bytes (7): only its first 7 bytes are kept; raise max_line_bytes to read it whole"
	want := []msg{{"1", "stdin", "a", ""}, {"3", "stdin", "abcdefg", tooLong}, {"4", "stdin", `{"b":2}`, ""}, {"6", "stdin", "last", ""}}
	if !reflect.DeepEqual(gotm, want) {
		t.Fatalf("messages = %v, want %v", gotm, want)
	}
	logs.Reset()
	src.Ack(got[0])
	src.Nack(got[2], errors.New("failed"))
	if logs.Len() != 0 { // the runtime logs a failure, once
		t.Fatalf("Ack/Nack logged %q", logs.String())
	}
}

// Silent stdin must not keep a stopping flow waiting.
func TestStdinReadReturnsOnCancel(t *testing.T) {
	pr, pw := io.Pipe()
	src := openStdin(t, pr, nil, registry.Env{})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := src.Read(ctx, make([]*message.Message, 4))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond) // let it block (the test holds either way)
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("Read = %v, want context.Canceled", err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	_ = pw.Close() // end of input: the waiting read returns, its goroutine ends
	goleak.VerifyNone(t)
}

type countingWriter struct {
	bytes.Buffer
	calls int
}

func (w *countingWriter) Write(p []byte) (int, error) { w.calls++; return w.Buffer.Write(p) }

func TestStdoutLines(t *testing.T) {
	w := &countingWriter{}
	sink := openStdout(t, w, nil)
	msgs := []*message.Message{{Body: []byte(`{"a":1}`)}, {Body: []byte("text")}}
	if err := sink.Write(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if w.String() != "{\"a\":1}\ntext\n" || w.calls != 1 {
		t.Fatalf("stdout got %q in %d writes, want 2 lines in 1 write", w.String(), w.calls)
	}
}

func TestStdoutEnvelope(t *testing.T) {
	var w bytes.Buffer
	sink := openStdout(t, &w, registry.Config{"envelope": true})
	msgs := []*message.Message{
		{ID: "7", Key: "u1", Topic: "stdin", Meta: map[string]string{"h": "v"}, Body: []byte(`[1,"x"]`)},
		{ID: "8", Topic: "stdin", Body: []byte("plain")},
	}
	if err := sink.Write(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	want := []map[string]any{
		{"id": "7", "key": "u1", "topic": "stdin", "meta": map[string]any{"h": "v"}, "payload": []any{1.0, "x"}},
		{"id": "8", "key": "", "topic": "stdin", "meta": map[string]any{}, "payload": "plain", "payload_encoding": "text"},
	}
	lines := strings.Split(strings.TrimSuffix(w.String(), "\n"), "\n")
	if len(lines) != len(want) {
		t.Fatalf("stdout got %q, want %d lines", w.String(), len(want))
	}
	for i, l := range lines {
		var got map[string]any
		if err := json.Unmarshal([]byte(l), &got); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Fatalf("line %d = %v, want %v", i+1, got, want[i])
		}
	}
}
