package inflight

import (
	"bytes"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/registry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// Each nack of the same message doubles its wait, up to the cap; an ack
// starts it again from the first delay.
func TestRedeliveryBacksOffPerMessageUpToTheCap(t *testing.T) {
	r := NewRedelivery(registry.Env{}, 100*time.Millisecond, time.Second)
	var got []time.Duration
	for range 6 {
		got = append(got, r.Nacked("p0/7", errors.New("sink down")))
	}
	want := []time.Duration{100, 200, 400, 800, 1000, 1000}
	for i := range want {
		if got[i] != want[i]*time.Millisecond {
			t.Fatalf("delays %v, want %v ms", got, want)
		}
	}
	if d := r.Nacked("p0/8", nil); d != 100*time.Millisecond {
		t.Fatalf("another message waits %v, want the first delay", d)
	}
	r.Acked(func() string { return "p0/7" })
	if d := r.Nacked("p0/7", nil); d != 100*time.Millisecond {
		t.Fatalf("after an ack the message waits %v, want the first delay", d)
	}
	zero := NewRedelivery(registry.Env{}, 0, time.Second)
	if d1, d5 := zero.Delay(1), zero.Delay(5); d1 != 0 || d5 != 16*time.Millisecond {
		t.Fatalf("a zero delay gives %v then %v, want 0 then 16ms", d1, d5)
	}
}

// The metrics show what waits and what was redelivered; the log says so
// once per logEvery, with the count of nacks it did not log.
func TestRedeliveryMetricsAndRateLimitedLog(t *testing.T) {
	reg := prometheus.NewRegistry()
	var logs bytes.Buffer
	env := registry.Env{Flow: "f", Metrics: reg, Logger: slog.New(slog.NewTextHandler(&logs, nil))}
	r := NewRedelivery(env, time.Millisecond, time.Second)
	for range 5 {
		r.Nacked("k", errors.New("sink down"), "offset", 7)
	}
	r.HandedOut(3)
	r.Dropped(1)
	waiting := testutil.ToFloat64(r.waiting)
	total := testutil.ToFloat64(r.total)
	if waiting != 1 || total != 3 {
		t.Fatalf("waiting %v total %v, want 1 and 3", waiting, total)
	}
	if n := strings.Count(logs.String(), "\n"); n != 1 || !strings.Contains(logs.String(), "offset=7") ||
		!strings.Contains(logs.String(), "nacks=1") {
		t.Fatalf("want one log line for 5 nacks in a row, got:\n%s", logs.String())
	}
	r.logged = time.Time{} // as if logEvery had passed
	r.Nacked("k", nil)
	if !strings.Contains(logs.String(), "nacks_not_logged=4") {
		t.Fatalf("the next line does not count the nacks not logged:\n%s", logs.String())
	}
	// A second source of the process shares the metrics.
	NewRedelivery(env, time.Millisecond, time.Second).HandedOut(1)
	if total := testutil.ToFloat64(r.total); total != 4 {
		t.Fatalf("shared total %v, want 4", total)
	}
}
