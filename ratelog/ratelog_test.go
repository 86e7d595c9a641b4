package ratelog

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// lines collects what a JSON logger wrote.
type lines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lines) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lines) records(t *testing.T) []map[string]any {
	t.Helper()
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []map[string]any
	for _, l := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if l == "" {
			continue
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatalf("not JSON: %q", l)
		}
		out = append(out, r)
	}
	return out
}

func newLogger(window time.Duration, burst int) (*Logger, *lines) {
	out := &lines{}
	return New(slog.New(slog.NewJSONHandler(out, nil)), window, burst), out
}

func TestBurstThenOneCountOnTheNextWindow(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, out := newLogger(10*time.Second, 3)
		for i := range 5000 {
			l.Log(slog.LevelWarn, "total/type", "message failed", "stage", "total", "n", i)
		}
		if got := len(out.records(t)); got != 3 {
			t.Fatalf("%d lines in the first window, want the burst of 3", got)
		}
		time.Sleep(10 * time.Second) // fake time: the window ends
		l.Log(slog.LevelWarn, "total/type", "message failed", "stage", "total", "n", 5000)
		rs := out.records(t)
		if len(rs) != 5 {
			t.Fatalf("%d lines, want 3 + the count + the new line: %v", len(rs), rs)
		}
		count := rs[3]
		if count["msg"] != "message failed: and 4997 more like it in the last 10s" ||
			count["suppressed"] != 4997.0 || count["n"] != 4999.0 || count["level"] != "WARN" {
			t.Fatalf("count line %v", count)
		}
		if rs[4]["msg"] != "message failed" || rs[4]["n"] != 5000.0 {
			t.Fatalf("line after the window %v", rs[4])
		}
	})
}

func TestKeysAreLimitedApart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, out := newLogger(time.Second, 2)
		for range 10 {
			l.Log(slog.LevelWarn, "a", "a failed")
			l.Log(slog.LevelError, "b", "b failed")
		}
		l.Flush()
		var got []string
		for _, r := range out.records(t) {
			got = append(got, r["msg"].(string))
		}
		want := "a failed|b failed|a failed|b failed|"
		joined := strings.Join(got[:4], "|") + "|"
		if joined != want || len(got) != 6 {
			t.Fatalf("lines %q", got)
		}
		rest := got[4] + "|" + got[5]
		if !strings.Contains(rest, "a failed: and 8 more like it in the last 0s") ||
			!strings.Contains(rest, "b failed: and 8 more like it in the last 0s") {
			t.Fatalf("flushed counts %q", rest)
		}
	})
}

func TestStartReportsAnEndedWindowWithoutALaterLine(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, out := newLogger(10*time.Second, 1)
		stop := l.Start()
		defer stop()
		for range 4 {
			l.Log(slog.LevelWarn, "k", "failed")
		}
		time.Sleep(10 * time.Second)
		synctest.Wait()
		rs := out.records(t)
		if len(rs) != 2 || rs[1]["msg"] != "failed: and 3 more like it in the last 10s" {
			t.Fatalf("lines %v", rs)
		}
		stop()
		if n := len(out.records(t)); n != 2 {
			t.Fatalf("stop reported %d lines, want nothing more", n-2)
		}
	})
}

func TestStopFlushes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l, out := newLogger(10*time.Second, 1)
		stop := l.Start()
		l.Log(slog.LevelWarn, "k", "failed")
		l.Log(slog.LevelWarn, "k", "failed")
		time.Sleep(2 * time.Second)
		stop()
		rs := out.records(t)
		if len(rs) != 2 || rs[1]["msg"] != "failed: and 1 more like it in the last 2s" {
			t.Fatalf("lines %v", rs)
		}
	})
}

func TestDisabledLevelCountsNothing(t *testing.T) {
	out := &lines{}
	l := New(slog.New(slog.NewJSONHandler(out, &slog.HandlerOptions{Level: slog.LevelError})), 0, 0)
	for range 100 {
		l.Log(slog.LevelWarn, "k", "failed")
	}
	l.Flush()
	if rs := out.records(t); len(rs) != 0 {
		t.Fatalf("lines %v", rs)
	}
}

func TestKeysAreBounded(t *testing.T) {
	l, _ := newLogger(time.Hour, 1)
	for i := range 3 * maxKeys {
		l.Log(slog.LevelWarn, strings.Repeat("k", i%50)+string(rune(i)), "failed")
	}
	if n := len(l.keys); n > maxKeys+1 {
		t.Fatalf("%d keys kept, want at most %d", n, maxKeys+1)
	}
}
