package runtime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/flowrun/flowrun/runtime"
	"github.com/prometheus/client_golang/prometheus"
)

// logLines is a concurrency-safe buffer of JSON log lines.
type logLines struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (l *logLines) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

func (l *logLines) records(t *testing.T) []map[string]any {
	t.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for _, line := range strings.Split(strings.TrimSpace(l.buf.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("log line is not JSON: %q", line)
		}
		out = append(out, r)
	}
	return out
}

// runLogged runs src with a JSON logger and a private registry.
func runLogged(t *testing.T, src string) (runtime.Summary, []map[string]any, *prometheus.Registry) {
	t.Helper()
	logs, reg := &logLines{}, prometheus.NewRegistry()
	opts := runtime.Options{Logger: slog.New(slog.NewJSONHandler(logs, nil)), Metrics: reg}
	sum, err := runtime.New(compile(t, src), opts).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return sum, logs.records(t), reg
}

// failureLines counts the lines logged about failed messages and the
// ones they say were suppressed, by stage.
func failureLines(recs []map[string]any, msg string) (lines, suppressed map[string]int) {
	lines, suppressed = map[string]int{}, map[string]int{}
	for _, r := range recs {
		m, _ := r["msg"].(string)
		if !strings.HasPrefix(m, msg) {
			continue
		}
		stage, _ := r["stage"].(string)
		lines[stage]++
		if n, ok := r["suppressed"].(float64); ok {
			suppressed[stage] += int(n)
		}
	}
	return lines, suppressed
}

func TestFailuresAreLoggedOncePerMessageAndRateLimited(t *testing.T) {
	var bodies []string
	for i := range 5000 {
		bodies = append(bodies, fmt.Sprintf(`{"x": "s", "i": %d}`, i))
	}
	newSource(t, "fl", bodies...)
	newSink(t, "fl-out")
	sum, recs, reg := runLogged(t, `
version: 1
name: fl
source: {tsrc: {name: fl}}
stages:
  - name: a
    map: 'payload.i % 2 == 0 ? payload.x + 1 : payload'
  - name: b
    map: 'payload.x * 2'
sink: {tsink: {name: fl-out}}
`)
	// An expression's error cannot mend: without a dead letter, discarded.
	if sum.Discarded != 5000 || metricValue(t, reg, `flowrun_messages_total{flow="fl",outcome="discarded"}`) != 5000 {
		t.Fatalf("summary %+v: metrics and summary keep exact counts", sum)
	}
	lines, suppressed := failureLines(recs, "message failed for good")
	for _, stage := range []string{"a", "b"} {
		// Each failure is one line or one count, never two lines; each
		// stage has its own burst (5) and one line with the count.
		if lines[stage]-1+suppressed[stage] != 2500 || lines[stage] != 6 {
			t.Errorf("stage %s: %d lines, %d suppressed; want 6 lines accounting for 2500", stage, lines[stage], suppressed[stage])
		}
	}
	if len(recs) > 20 {
		t.Fatalf("%d log lines for 5000 failures", len(recs))
	}
}

func TestDeadLetteredFailuresAreRateLimited(t *testing.T) {
	var bodies []string
	for range 300 {
		bodies = append(bodies, `{"x": "s"}`)
	}
	newSource(t, "fd", bodies...)
	newSink(t, "fd-out")
	newSink(t, "fd-dlq")
	sum, recs, _ := runLogged(t, `
version: 1
name: fd
source: {tsrc: {name: fd}}
stages:
  - name: a
    map: 'payload.x + 1'
sink: {tsink: {name: fd-out}}
dead_letter: {tsink: {name: fd-dlq}}
`)
	lines, suppressed := failureLines(recs, "message dead-lettered")
	if sum.DeadLettered != 300 || lines["a"] != 6 || suppressed["a"] != 295 {
		t.Fatalf("dead-lettered %d: %d lines, %d suppressed", sum.DeadLettered, lines["a"], suppressed["a"])
	}
	for _, r := range recs {
		if strings.HasPrefix(r["msg"].(string), "message failed") {
			t.Fatalf("a dead-lettered message also logged %v", r)
		}
	}
}

func TestPanicsAndCircuitBreakerLogThroughTheFlowsLogger(t *testing.T) {
	newSource(t, "pl", `{"n":1}`, `{"n":2}`, `{"n":3}`)
	sink := newSink(t, "pl-out")
	sink.failFirst.Store(1)
	sum, recs, _ := runLogged(t, `
version: 1
name: pl
source: {tsrc: {name: pl}}
middleware:
  - retry: {max_retries: 3, initial_interval: 1ms, max_interval: 1ms}
  - circuit_breaker: {failures: 1, timeout: 1ms}
stages:
  - tpanic: '{"n":2}'
sink: {tsink: {name: pl-out}}
`)
	msgs := map[string]map[string]any{}
	for _, r := range recs {
		msgs[r["msg"].(string)] = r
	}
	for _, want := range []string{"stage panicked", "circuit breaker opened: writes wait", "circuit breaker closed: sink write succeeded"} {
		if r := msgs[want]; r == nil || r["flow"] != "pl" {
			t.Errorf("no %q line with the flow's name in the flow's log: %v", want, recs)
		}
	}
	if sum.Acked != 2 || sum.Discarded != 1 { // a panic cannot mend: discarded, not nacked
		t.Fatalf("summary %+v", sum)
	}
}
