package kafka

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Close stops every goroutine a source and a sink started: after a
// warm-up (process-wide singletons), a full cycle leaves none behind.
func TestCloseLeavesNoGoroutines(t *testing.T) {
	cycle := func() {
		b := startBroker(t, map[string]int32{"in": 2})
		produce(t, b.Addr(), &kgo.Record{Topic: "in", Value: []byte("x")})
		src, err := newSource(context.Background(), sourceConfigFor(b.Addr(), "in", "leak", nil), registry.Env{Flow: "f", Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		snk, err := newSink(context.Background(), config(sinkFields, map[string]any{"brokers": []any{b.Addr()}, "topic": "out"}), registry.Env{Logger: testLogger()})
		if err != nil {
			t.Fatal(err)
		}
		m := readN(t, src, 1)[0]
		if err := snk.Write(context.Background(), []*message.Message{{ID: m.ID, Body: m.Raw}}); err != nil {
			t.Fatal(err)
		}
		src.Ack(m)
		if err := src.Close(); err != nil {
			t.Fatal(err)
		}
		if err := snk.Close(); err != nil {
			t.Fatal(err)
		}
		b.Close()
	}
	cycle()
	time.Sleep(100 * time.Millisecond)
	before := runtime.NumGoroutine()
	cycle()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines before, %d after:\n%s", before, runtime.NumGoroutine(), buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
