package runtime_test

import (
	"context"
	"fmt"
	"testing"

	"github.com/flowrun/flowrun/message"
)

// partitionedSource is a fakeSource whose messages come from 3 partitions
// and must stay in order per partition, like Kafka's.
type partitionedSource struct{ *fakeSource }

func (partitionedSource) OrderedByPartition() bool { return true }

func (s partitionedSource) Read(ctx context.Context, buf []*message.Message) (int, error) {
	n, err := s.fakeSource.Read(ctx, buf)
	for _, m := range buf[:n] {
		var i int
		fmt.Sscan(m.ID, &i)
		m.Partition, m.Offset = int32(i%3), int64(i)
	}
	return n, err
}

func TestOrderKeptPerSourcePartitionWithoutPartitionBy(t *testing.T) {
	var bodies []string
	for i := 0; i < 3000; i++ {
		bodies = append(bodies, fmt.Sprintf(`{"i":%d,"work":%d}`, i, (i*7919)%50))
	}
	fixtures.Store("po-part", partitionedSource{newSource(t, "po", bodies...)})
	t.Cleanup(func() { fixtures.Delete("po-part") })
	sink := newSink(t, "po-out")
	runFlow(t, `
version: 1
name: po
source: {tsrc: {name: po-part}}
concurrency: 4
max_demand: 2
stages:
  - filter: 'len(map(1..payload.work * 20, # * 2)) >= 0'
sink: {tsink: {name: po-out}}
`)
	last := map[int32]int64{0: -1, 1: -1, 2: -1}
	for _, m := range sink.messages() {
		if m.Offset <= last[m.Partition] {
			t.Fatalf("partition %d: offset %d after %d", m.Partition, m.Offset, last[m.Partition])
		}
		last[m.Partition] = m.Offset
	}
	if n := len(sink.messages()); n != 3000 {
		t.Fatalf("delivered %d", n)
	}
}
