package generate

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// open builds the registered source the way the runtime does: defaults
// applied, payload compiled in the generate scope.
func open(t *testing.T, payload string, set registry.Config, env registry.Env) registry.Source {
	t.Helper()
	sp, ok := registry.LookupConnector("generate")
	if !ok || sp.Source == nil || sp.Sink != nil {
		t.Fatal(`"generate" is not registered as a source only`)
	}
	p, err := expression.Compile(payload, expression.GenerateScope)
	if err != nil {
		t.Fatalf("compile %q: %v", payload, err)
	}
	cfg := registry.Config{}
	for _, f := range sp.SourceFields {
		if f.Default != nil {
			cfg[f.Name] = f.Default
		}
	}
	for k, v := range set {
		cfg[k] = v
	}
	cfg["payload"] = p
	src, err := sp.Source(context.Background(), cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

type result struct {
	n   int
	err error
	ids []string
	raw []string
}

func read(ctx context.Context, src registry.Source, size int) result {
	buf := make([]*message.Message, size)
	n, err := src.Read(ctx, buf)
	r := result{n: n, err: err}
	for _, m := range buf[:n] {
		r.ids = append(r.ids, m.ID)
		r.raw = append(r.raw, string(m.Raw))
	}
	return r
}

func TestCountAndCounter(t *testing.T) {
	src := open(t, `{"n": counter, "sq": counter * counter}`, registry.Config{"count": 3}, registry.Env{})
	ctx := context.Background()
	want := []result{
		{n: 2, ids: []string{"1", "2"}, raw: []string{`{"n":1,"sq":1}`, `{"n":2,"sq":4}`}},
		{n: 1, err: io.EOF, ids: []string{"3"}, raw: []string{`{"n":3,"sq":9}`}},
		{n: 0, err: io.EOF},
	}
	for i, w := range want {
		if got := read(ctx, src, 2); !reflect.DeepEqual(got, w) {
			t.Fatalf("Read %d = %+v, want %+v", i+1, got, w)
		}
	}
}

func TestMessageFields(t *testing.T) {
	src := open(t, `"item-" + string(counter)`, registry.Config{"count": 2}, registry.Env{})
	buf := make([]*message.Message, 5)
	n, err := src.Read(context.Background(), buf)
	if n != 2 || !errors.Is(err, io.EOF) {
		t.Fatalf("Read = %d, %v; want 2, io.EOF (count reached in the same call)", n, err)
	}
	for i, m := range buf[:n] {
		c := i + 1
		if m.ID != fmt.Sprint(c) || m.Offset != int64(c) || m.Topic != "generate" || m.Decoded || m.Meta != nil {
			t.Fatalf("message %d = %+v", c, m)
		}
		// A string payload is JSON-encoded so the json codec gives it back.
		if err := message.JSON.Decode(m); err != nil || m.Payload != fmt.Sprintf("item-%d", c) {
			t.Fatalf("message %d Raw %q decodes to %v, %v", c, m.Raw, m.Payload, err)
		}
	}
}

func TestEndless(t *testing.T) {
	src := open(t, `counter`, nil, registry.Env{})
	next := 1
	for range 10 {
		r := read(context.Background(), src, 100)
		if r.n != 100 || r.err != nil {
			t.Fatalf("Read = %d, %v; want 100 messages and no end", r.n, r.err)
		}
		for i := range r.n {
			if r.ids[i] != fmt.Sprint(next) || r.raw[i] != fmt.Sprint(next) {
				t.Fatalf("message %d has ID %s Raw %s", next, r.ids[i], r.raw[i])
			}
			next++
		}
	}
}

func TestIntervalPaces(t *testing.T) {
	const interval = 5 * time.Millisecond
	src := open(t, `counter`, registry.Config{"count": 4, "interval": interval}, registry.Env{})
	start := time.Now()
	var ids []string
	for {
		r := read(context.Background(), src, 10)
		ids = append(ids, r.ids...)
		if errors.Is(r.err, io.EOF) {
			break
		}
		if r.err != nil {
			t.Fatal(r.err)
		}
	}
	// The first message is immediate, each later one waits for a tick.
	if elapsed := time.Since(start); elapsed < 3*interval {
		t.Fatalf("4 messages at %s took only %s", interval, elapsed)
	}
	if !reflect.DeepEqual(ids, []string{"1", "2", "3", "4"}) {
		t.Fatalf("ids = %v", ids)
	}
}

func TestIntervalReadReturnsOnCtxAndClose(t *testing.T) {
	src := open(t, `counter`, registry.Config{"interval": time.Hour}, registry.Env{})
	if r := read(context.Background(), src, 10); r.n != 1 || r.err != nil {
		t.Fatalf("first Read = %+v; want 1 message at once", r)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Millisecond)
	defer cancel()
	if r := read(ctx, src, 10); r.n != 0 || !errors.Is(r.err, context.DeadlineExceeded) {
		t.Fatalf("Read waiting for a tick = %+v; want deadline exceeded", r)
	}
	done := make(chan result, 1)
	go func() { done <- read(context.Background(), src, 10) }()
	time.Sleep(10 * time.Millisecond) // let it wait for the tick (the test holds either way)
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if r := <-done; r.n != 0 || !errors.Is(r.err, ErrClosed) {
		t.Fatalf("Read during Close = %+v; want ErrClosed", r)
	}
	if r := read(context.Background(), src, 1); !errors.Is(r.err, ErrClosed) {
		t.Fatalf("Read after Close = %+v; want ErrClosed", r)
	}
	goleak.VerifyNone(t)
}

func TestExpressionErrorAfterGoodMessages(t *testing.T) {
	src := open(t, `counter < 3 ? counter : fromJSON("{")`, nil, registry.Env{})
	ctx := context.Background()
	if r := read(ctx, src, 5); r.n != 2 || r.err != nil {
		t.Fatalf("Read = %+v; want the 2 good messages first", r)
	}
	for range 2 { // the failing message fails every time, and nothing is skipped
		r := read(ctx, src, 5)
		if r.n != 0 || r.err == nil || !strings.Contains(r.err.Error(), "message 3") {
			t.Fatalf("Read = %+v; want an error naming message 3", r)
		}
	}
}

func TestAckAndNackLogNothing(t *testing.T) {
	var logs bytes.Buffer // the handler serializes writes
	src := open(t, `counter`, registry.Config{"count": 2}, registry.Env{Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	buf := make([]*message.Message, 2)
	if n, _ := src.Read(context.Background(), buf); n != 2 {
		t.Fatalf("read %d", n)
	}
	var wg sync.WaitGroup
	wg.Go(func() { src.Ack(buf[0]) })
	wg.Go(func() { src.Nack(buf[1], errors.New("sink down")) })
	wg.Wait()
	if logs.Len() != 0 { // the runtime logs a failure, once
		t.Fatalf("logs = %q; want none", logs.String())
	}
}
