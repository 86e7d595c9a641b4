package lines

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/iotest"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// line is what a test expects of one message.
type line struct {
	id  string
	raw string
}

// readAll reads s to io.EOF with buffers of size n and returns every
// message, compared only at the end so earlier Raw slices must still hold.
func readAll(t *testing.T, s *Source, n int) []*message.Message {
	t.Helper()
	var out []*message.Message
	for range 1_000_000 {
		buf := make([]*message.Message, n)
		k, err := s.Read(context.Background(), buf)
		out = append(out, buf[:k]...)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatalf("Read: %v", err)
		}
		if k == 0 {
			t.Fatalf("Read returned 0 messages and no error")
		}
	}
	t.Fatal("no io.EOF after a million reads")
	return nil
}

func check(t *testing.T, got []*message.Message, topic string, want []line) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d messages, want %d: %s", len(got), len(want), describe(got))
	}
	for i, m := range got {
		if m.ID != want[i].id || string(m.Raw) != want[i].raw || m.Topic != topic || fmt.Sprint(m.Offset) != want[i].id {
			t.Fatalf("message %d = {ID %q Offset %d Topic %q Raw %q}, want {ID %q Topic %q Raw %q}",
				i, m.ID, m.Offset, m.Topic, m.Raw, want[i].id, topic, want[i].raw)
		}
	}
}

func describe(msgs []*message.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&b, "[%s %q] ", m.ID, m.Raw)
	}
	return b.String()
}

func newTestSource(t *testing.T, r io.Reader, opt Options) *Source {
	t.Helper()
	if opt.Name == "" {
		opt.Name = "test"
	}
	if opt.Topic == "" {
		opt.Topic = "t"
	}
	s := NewSource(r, opt)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func TestLinesCRLFEmptyAndLastLine(t *testing.T) {
	input := "first\r\nsecond\n\n\r\n{\"n\":3}\nlast without newline"
	want := []line{{"1", "first"}, {"2", "second"}, {"5", `{"n":3}`}, {"6", "last without newline"}}
	readers := map[string]func() io.Reader{
		"whole":    func() io.Reader { return strings.NewReader(input) },
		"one byte": func() io.Reader { return iotest.OneByteReader(strings.NewReader(input)) },
		"data+EOF": func() io.Reader { return iotest.DataErrReader(strings.NewReader(input)) },
	}
	for name, r := range readers {
		for _, n := range []int{1, 2, 64} {
			t.Run(fmt.Sprintf("%s/buf%d", name, n), func(t *testing.T) {
				s := newTestSource(t, r(), Options{})
				check(t, readAll(t, s, n), "t", want)
				// Reading on after the end keeps saying io.EOF.
				if k, err := s.Read(context.Background(), make([]*message.Message, 4)); k != 0 || !errors.Is(err, io.EOF) {
					t.Fatalf("Read after EOF = %d, %v; want 0, io.EOF", k, err)
				}
			})
		}
	}
}

func TestOnlyEmptyLinesGiveNothing(t *testing.T) {
	s := newTestSource(t, strings.NewReader("\n\r\n\n"), Options{})
	if got := readAll(t, s, 8); len(got) != 0 {
		t.Fatalf("got %s, want no messages", describe(got))
	}
}

// Many lines over small chunks: lines cut by a chunk's end are carried
// over, and Raw of earlier messages is untouched by later reads.
func TestLinesAcrossChunks(t *testing.T) {
	var in strings.Builder
	var want []line
	for i := 1; i <= 5000; i++ {
		raw := fmt.Sprintf(`{"line":%d,"pad":"%s"}`, i, strings.Repeat("x", i%97))
		in.WriteString(raw + "\n")
		want = append(want, line{fmt.Sprint(i), raw})
	}
	s := newTestSource(t, iotest.HalfReader(strings.NewReader(in.String())), Options{ChunkBytes: 8 << 10})
	check(t, readAll(t, s, 7), "t", want)
}

func TestLongLineGrowsTheChunk(t *testing.T) {
	long := strings.Repeat("L", 50_000) // longer than the 8 KiB chunk
	s := newTestSource(t, strings.NewReader("a\n"+long+"\r\nb"), Options{ChunkBytes: 8 << 10})
	check(t, readAll(t, s, 3), "t", []line{{"1", "a"}, {"2", long}, {"3", "b"}})
}

// A line over MaxLineBytes is not skipped: it is handed out cut to
// MaxLineBytes with Err saying how long it was, so the runtime fails it
// (dead letter or nack) and counts it like any other failure.
func TestLineOverMaxIsHandedOutFailed(t *testing.T) {
	max5 := strings.Repeat("5", 5)
	z := strings.Repeat("z", 30_000)
	type long struct {
		line string
		size int
	}
	cases := map[string]struct {
		input string
		want  []line
		long  []long // the failed messages among want: line number and full size
	}{
		"in the middle":           {"ok\ntoo long\n" + max5 + "\r\nfine\n", []line{{"1", "ok"}, {"2", "too l"}, {"3", max5}, {"4", "fine"}}, []long{{"2", 8}}},
		"much longer than chunks": {"ok\n" + z + "\nfine", []line{{"1", "ok"}, {"2", "zzzzz"}, {"3", "fine"}}, []long{{"2", 30_000}}},
		"last without newline":    {"ok\n123456", []line{{"1", "ok"}, {"2", "12345"}}, []long{{"2", 6}}},
		"long last line":          {"ok\n" + z, []line{{"1", "ok"}, {"2", "zzzzz"}}, []long{{"2", 30_000}}},
		"just over with CR":       {max5 + "6\r\n" + max5 + "\r\n", []line{{"1", max5}, {"2", max5}}, []long{{"1", 6}}},
	}
	for name, c := range cases {
		for _, oneByte := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/onebyte=%v", name, oneByte), func(t *testing.T) {
				var r io.Reader = strings.NewReader(c.input)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				s := newTestSource(t, r, Options{MaxLineBytes: 5, ChunkBytes: 4 << 10})
				got := readAll(t, s, 2)
				check(t, got, "t", c.want)
				var failed []long
				for _, m := range got {
					if m.Err == nil {
						continue
					}
					failed = append(failed, long{m.ID, 0})
					for _, want := range c.long {
						text := fmt.Sprintf("line %s is %d bytes, over max_line_bytes (5): only its first 5 bytes are kept; raise max_line_bytes", want.line, want.size)
						if want.line == m.ID && !strings.Contains(m.Err.Error(), text) {
							t.Fatalf("line %s: Err = %q, want it to contain %q", m.ID, m.Err, text)
						}
					}
				}
				if len(failed) != len(c.long) {
					t.Fatalf("failed lines %v, want %v", failed, c.long)
				}
			})
		}
	}
}

// With the bytes codec a line is byte-exact: a "\r" before the "\n" is
// kept and empty lines are messages; text drops the "\r" of "\r\n" but
// keeps empty lines; json skips blank lines and counts them.
func TestCodecDecidesCRAndEmptyLines(t *testing.T) {
	input := "a\r\n\r\n\n\x00\xff\rb\r"
	cases := []struct {
		codec message.Codec
		want  []line
		blank int
	}{
		{message.Bytes, []line{{"1", "a\r"}, {"2", "\r"}, {"3", ""}, {"4", "\x00\xff\rb\r"}}, 0},
		{message.Text, []line{{"1", "a"}, {"2", ""}, {"3", ""}, {"4", "\x00\xff\rb"}}, 0},
		{message.JSON, []line{{"1", "a"}, {"4", "\x00\xff\rb"}}, 2},
	}
	for _, c := range cases {
		for _, oneByte := range []bool{false, true} {
			t.Run(fmt.Sprintf("%s/onebyte=%v", c.codec, oneByte), func(t *testing.T) {
				var r io.Reader = strings.NewReader(input)
				if oneByte {
					r = iotest.OneByteReader(r)
				}
				var logs bytes.Buffer
				blank := prometheus.NewCounter(prometheus.CounterOpts{Name: "blank"})
				s := newTestSource(t, r, Options{Codec: c.codec, BlankLines: blank,
					Logger: slog.New(slog.NewTextHandler(&logs, nil))})
				check(t, readAll(t, s, 3), "t", c.want)
				if got := testutil.ToFloat64(blank); got != float64(c.blank) {
					t.Fatalf("blank lines counted %v, want %d", got, c.blank)
				}
				if logged := strings.Contains(logs.String(), fmt.Sprintf("blank_lines=%d", c.blank)); logged != (c.blank > 0) {
					t.Fatalf("blank lines logged %v, want %v:\n%s", logged, c.blank > 0, logs.String())
				}
			})
		}
	}
}

func TestReadErrorIsWrapped(t *testing.T) {
	boom := errors.New("disk on fire")
	s := newTestSource(t, iotest.ErrReader(boom), Options{Name: "file x"})
	_, err := s.Read(context.Background(), make([]*message.Message, 1))
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "file x") {
		t.Fatalf("Read error = %v; want it to wrap %v and name the source", err, boom)
	}
}

// A pipe gives lines slowly: Read returns what it has without waiting to
// fill buf, returns on ctx while blocked, and loses nothing when it does.
func TestSlowReaderAndCancel(t *testing.T) {
	pr, pw := io.Pipe()
	// A small chunk, so the reads below also cross into a new one.
	s := newTestSource(t, pr, Options{ChunkBytes: minFree + 2})
	go func() { _, _ = pw.Write([]byte("a\nb")) }()
	buf := make([]*message.Message, 8)
	if k, err := s.Read(context.Background(), buf); k != 1 || err != nil || string(buf[0].Raw) != "a" {
		t.Fatalf("Read = %d, %v (%s); want 1 message a", k, err, describe(buf[:k]))
	}

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if k, err := s.Read(ctx, buf); k != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("blocked Read = %d, %v; want 0, deadline exceeded", k, err)
	}

	// The read abandoned above still completes into the source, and
	// nothing else reads into bytes already handed out.
	go func() { _, _ = pw.Write([]byte("c\nd\n")) }()
	got := buf[:1:1]
	k, err := s.Read(context.Background(), buf[1:])
	if err != nil {
		t.Fatalf("Read after cancel: %v", err)
	}
	got = append(got, buf[1:1+k]...)
	go func() { _, _ = pw.Write([]byte("e\n")); _ = pw.Close() }()
	got = append(got, readAll(t, s, 8)...)
	check(t, got, "t", []line{{"1", "a"}, {"2", "bc"}, {"3", "d"}, {"4", "e"}})
}

func TestCloseWithCloserInterruptsRead(t *testing.T) {
	pr, pw := io.Pipe()
	defer pw.Close()
	s := NewSource(pr, Options{Name: "pipe", Closer: pr})
	done := make(chan error, 1)
	go func() {
		_, err := s.Read(context.Background(), make([]*message.Message, 1))
		done <- err
	}()
	time.Sleep(10 * time.Millisecond) // let Read block in the pipe (the test holds either way)
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := <-done; !errors.Is(err, ErrClosed) {
		t.Fatalf("Read during Close = %v, want ErrClosed", err)
	}
	if _, err := s.Read(context.Background(), make([]*message.Message, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close = %v, want ErrClosed", err)
	}
	goleak.VerifyNone(t)
}

// Without a Closer (stdin) Close does not wait for a blocked read; the
// reading goroutine ends as soon as that read returns.
func TestCloseWithoutCloserDoesNotHang(t *testing.T) {
	pr, pw := io.Pipe()
	s := NewSource(pr, Options{Name: "stdin"})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if _, err := s.Read(ctx, make([]*message.Message, 1)); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read = %v, want deadline exceeded", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	_ = pw.Close() // the blocked read returns; the goroutine must then exit
	goleak.VerifyNone(t)
}

func TestAckAndNackLogNothing(t *testing.T) {
	var logs bytes.Buffer
	s := newTestSource(t, strings.NewReader("x\ny\n"), Options{Name: "file in.txt",
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	msgs := readAll(t, s, 4)
	s.Ack(msgs[0])
	s.Nack(msgs[1], errors.New("bad payload"))
	if logs.Len() != 0 { // the runtime logs a failure once, rate-limited
		t.Fatalf("Ack/Nack logged:\n%s", logs.String())
	}
}
