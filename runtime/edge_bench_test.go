package runtime

import (
	"context"
	"testing"

	"github.com/flowrun/flowrun/message"
	"github.com/prometheus/client_golang/prometheus"
)

// BenchmarkEdgeSendReceive is one hop of a chunk of 64 messages over an
// edge: what each edge costs per chunk, the tap's check included (no tap
// attached). It uses only what the edge had before the tap, so the same
// file measures a build without it.
func BenchmarkEdgeSendReceive(b *testing.B) {
	e := newEdge(newMetrics(prometheus.NewRegistry()), nil, "bench", "a", "b", 4, 256)
	msgs := make([]*message.Message, 64)
	for i := range msgs {
		msgs[i] = &message.Message{}
	}
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		_ = e.send(ctx, chunk{msgs: msgs})
		e.received(<-e.ch)
	}
}
