package runtime_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/flowrun/flowrun/runtime"
)

// An observer may read what it is shown: the event comes before the
// receiving node owns the messages (run with -race).
func TestObserverMayReadEnqueuedMessages(t *testing.T) {
	var bodies []string
	for i := 0; i < 300; i++ {
		bodies = append(bodies, fmt.Sprintf(`{"n":%d}`, i))
	}
	newSource(t, "orace", bodies...)
	newSink(t, "orace-out")
	var mu sync.Mutex
	seen := 0
	obs := runtime.ObserverFunc(func(e runtime.Event) {
		for _, m := range e.Messages {
			mu.Lock()
			if m.Payload != nil || m.Decoded || len(m.Meta) > 0 || m.Key != "" {
				seen++
			}
			mu.Unlock()
		}
	})
	flow := compile(t, "version: 1\nname: orace\nsource: {tsrc: {name: orace}}\nstages:\n  - set: {m: payload.n}\nsink: {tsink: {name: orace-out}}\n")
	if _, err := runtime.New(flow, runtime.Options{Observers: []runtime.Observer{obs}}).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if seen == 0 {
		t.Fatal("observer saw nothing")
	}
}

func TestProgressCountsWhileRunning(t *testing.T) {
	newSource(t, "pg", `{"a":1}`, `{"a":2}`, `x`)
	newSink(t, "pg-out")
	newSink(t, "pg-dlq")
	flow := compile(t, "version: 1\nname: pg\nsource: {tsrc: {name: pg}}\nstages:\n  - filter: payload.a > 1\nsink: {tsink: {name: pg-out}}\ndead_letter: {tsink: {name: pg-dlq}}\n")
	p := runtime.New(flow, runtime.Options{})
	if got := p.Progress(); got != (runtime.Summary{}) {
		t.Fatalf("before Run: %+v", got)
	}
	sum, err := p.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	got := p.Progress()
	if got.In != 3 || got.Acked != 1 || got.Filtered != 1 || got.DeadLettered != 1 || got.Settled() != 3 || sum.Settled() != 3 {
		t.Fatalf("progress %+v, summary %+v", got, sum)
	}
}

func TestLogObserverWritesEventsAsDebugLines(t *testing.T) {
	var buf strings.Builder
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	runtime.LogObserver(log).Observe(runtime.Event{Kind: runtime.EventEnqueued, Flow: "f", From: "source", To: "processors", Count: 3})
	if got := buf.String(); !strings.Contains(got, "level=DEBUG msg=enqueued flow=f from=source to=processors count=3") {
		t.Fatalf("log line %q", got)
	}
	buf.Reset()
	runtime.LogObserver(slog.New(slog.NewTextHandler(&buf, nil))).Observe(runtime.Event{Kind: runtime.EventDemand})
	if buf.Len() != 0 {
		t.Fatalf("logged at info level: %q", buf.String())
	}
}
