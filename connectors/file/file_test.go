package file

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	json "github.com/goccy/go-json"
	"go.uber.org/goleak"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// config is what the compiler passes: defaults applied, then the values set.
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

func spec(t testing.TB) *registry.ConnectorSpec {
	t.Helper()
	s, ok := registry.LookupConnector("file")
	if !ok {
		t.Fatal(`connector "file" is not registered`)
	}
	return s
}

func openSource(t testing.TB, path string, env registry.Env) registry.Source {
	t.Helper()
	sp := spec(t)
	src, err := sp.Source(context.Background(), config(sp.SourceFields, registry.Config{"path": path}), env)
	if err != nil {
		t.Fatal(err)
	}
	return src
}

func readToEOF(t testing.TB, src registry.Source, bufSize int) []*message.Message {
	t.Helper()
	var out []*message.Message
	for {
		buf := make([]*message.Message, bufSize)
		n, err := src.Read(context.Background(), buf)
		out = append(out, buf[:n]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
	}
}

func TestSourceReadsLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.jsonl")
	if err := os.WriteFile(path, []byte("{\"n\":1}\r\n\n{\"n\":3}\nlast"), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	src := openSource(t, path, registry.Env{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	got := readToEOF(t, src, 2)
	want := []struct {
		id   string
		off  int64
		raw  string
		meta map[string]string
	}{{"1", 1, `{"n":1}`, nil}, {"3", 3, `{"n":3}`, nil}, {"4", 4, "last", nil}}
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d", len(got), len(want))
	}
	for i, m := range got {
		w := want[i]
		if m.ID != w.id || m.Offset != w.off || string(m.Raw) != w.raw || m.Topic != path || m.Meta != nil || m.Decoded {
			t.Fatalf("message %d = %+v, want ID %s Offset %d Raw %q Topic %s, undecoded", i, m, w.id, w.off, w.raw, path)
		}
	}
	logs.Reset() // the count of blank lines skipped
	src.Nack(got[1], errors.New("no dead letter"))
	if logs.Len() != 0 { // the runtime logs a failure, once
		t.Fatalf("Nack logged %q", logs.String())
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t)
}

func TestSourceBadPath(t *testing.T) {
	dir := t.TempDir()
	sp := spec(t)
	for path, want := range map[string]string{
		filepath.Join(dir, "missing.txt"): "no such file",
		dir:                               "is a directory",
	} {
		_, err := sp.Source(context.Background(), config(sp.SourceFields, registry.Config{"path": path}), registry.Env{})
		if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), want) {
			t.Fatalf("open %s: error %v; want one naming the path and saying %q", path, err, want)
		}
	}
}

func TestSinkAppends(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.txt")
	sp := spec(t)
	for _, batch := range [][]string{{`{"a":1}`, "two"}, {"three"}} {
		sink, err := sp.Sink(context.Background(), config(sp.SinkFields, registry.Config{"path": path}), registry.Env{})
		if err != nil {
			t.Fatal(err)
		}
		var msgs []*message.Message
		for _, b := range batch {
			msgs = append(msgs, &message.Message{Body: []byte(b)})
		}
		if err := sink.Write(context.Background(), msgs); err != nil {
			t.Fatal(err)
		}
		if err := sink.Close(); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "{\"a\":1}\ntwo\nthree\n" {
		t.Fatalf("file holds %q", got)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm()&^0o644 != 0 {
		t.Fatalf("file mode %v, want at most 0644", info.Mode().Perm())
	}
}

func TestSinkEnvelopeRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := filepath.Join(dir, "in.txt")
	out := filepath.Join(dir, "out.jsonl")
	if err := os.WriteFile(in, []byte("{\"x\":[1,2]}\nhello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := openSource(t, in, registry.Env{})
	defer src.Close()
	msgs := readToEOF(t, src, 8)
	for _, m := range msgs {
		m.Body = m.Raw // what the runtime does for an unchanged payload
	}
	sp := spec(t)
	sink, err := sp.Sink(context.Background(), config(sp.SinkFields, registry.Config{"path": out, "envelope": true}), registry.Env{})
	if err != nil {
		t.Fatal(err)
	}
	if err := sink.Write(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var got []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(string(data), "\n"), "\n") {
		var v map[string]any
		if err := json.Unmarshal([]byte(l), &v); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, v)
	}
	want := []map[string]any{
		{"id": "1", "key": "", "topic": in, "meta": map[string]any{}, "payload": map[string]any{"x": []any{1.0, 2.0}}},
		{"id": "2", "key": "", "topic": in, "meta": map[string]any{}, "payload": "hello", "payload_encoding": "text"},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("envelopes = %v, want %v", got, want)
	}
}

func TestSinkBadDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "no", "such", "dir", "out.txt")
	sp := spec(t)
	_, err := sp.Sink(context.Background(), config(sp.SinkFields, registry.Config{"path": path}), registry.Env{})
	if err == nil || !strings.Contains(err.Error(), path) {
		t.Fatalf("error %v; want one naming %s", err, path)
	}
}

// BenchmarkFileSourceRead reads a 100k-line file through the connector,
// with bufio.Scanner plus a copy per line as the baseline to compare.
func BenchmarkFileSourceRead(b *testing.B) {
	path := filepath.Join(b.TempDir(), "in.jsonl")
	var data bytes.Buffer
	for i := range 100_000 {
		fmt.Fprintf(&data, `{"id":%d,"user":"u%d","amount":%d.25,"currency":"EUR"}`+"\n", i, i%1000, i%5000)
	}
	if err := os.WriteFile(path, data.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	b.Run("connector", func(b *testing.B) {
		b.SetBytes(int64(data.Len()))
		for b.Loop() {
			src := openSource(b, path, registry.Env{})
			if n := len(readToEOF(b, src, 64)); n != 100_000 {
				b.Fatalf("read %d messages", n)
			}
			_ = src.Close()
		}
	})
	b.Run("baseline-scanner-copy", func(b *testing.B) {
		b.SetBytes(int64(data.Len()))
		for b.Loop() {
			f, err := os.Open(path)
			if err != nil {
				b.Fatal(err)
			}
			sc := bufio.NewScanner(f)
			sc.Buffer(make([]byte, 1<<20), 16<<20)
			var out []*message.Message
			for line := 1; sc.Scan(); line++ {
				out = append(out, &message.Message{ID: fmt.Sprint(line), Topic: path, Offset: int64(line), Raw: bytes.Clone(sc.Bytes())})
			}
			_ = f.Close()
			if len(out) != 100_000 {
				b.Fatalf("read %d messages", len(out))
			}
		}
	})
}
