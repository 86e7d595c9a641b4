package kafka

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/twmb/franz-go/pkg/kgo"
)

type partOffset struct {
	partition int32
	offset    int64
}

// produceSpread writes perPartition records to each of parts partitions.
func produceSpread(t *testing.T, addr, topic string, parts int32, perPartition int, tag string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	var recs []*kgo.Record
	for p := range parts {
		for i := range perPartition {
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: fmt.Appendf(nil, "%s-%d-%d", tag, p, i)})
		}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func ownedPartitions(s *source, topic string) []int32 {
	p := s.handler.owned()[topic]
	slices.Sort(p)
	return p
}

// reader reads and acks from s until stop, checking that every message
// comes from a partition s owns at that moment.
func reader(t *testing.T, ctx context.Context, s *source, topic string, seen chan<- partOffset, wg *sync.WaitGroup) {
	wg.Go(func() {
		buf := make([]*message.Message, 16)
		for {
			n, err := s.Read(ctx, buf)
			if err != nil {
				return
			}
			for _, m := range buf[:n] {
				if !slices.Contains(ownedPartitions(s, topic), m.Partition) {
					t.Errorf("handed out partition %d offset %d, which this member does not own", m.Partition, m.Offset)
				}
				seen <- partOffset{m.Partition, m.Offset}
				s.Ack(m)
			}
		}
	})
}

// Two members of one group split a 6-partition topic; messages buffered
// before the rebalance are not handed out for partitions that moved; when
// one member leaves, the other takes over every partition; every message
// is delivered and every offset committed.
func TestSourceRebalanceTwoMembers(t *testing.T) {
	const topic, parts, per = "rb", 6, 100
	b := startBroker(t, map[string]int32{topic: parts})
	produceSpread(t, b.Addr(), topic, parts, per, "first")
	cfg := sourceConfigFor(b.Addr(), topic, "rb-group", nil)

	a := newTestSource(t, cfg, registry.Env{MaxInFlight: 16})
	eventually(t, "member a buffers a full buffer", func() bool {
		return len(ownedPartitions(a, topic)) == parts && len(a.buffered) == cap(a.buffered)
	})
	bm := newTestSource(t, cfg, registry.Env{MaxInFlight: 16})
	eventually(t, "partitions split 3/3", func() bool {
		return len(ownedPartitions(a, topic)) == 3 && len(ownedPartitions(bm, topic)) == 3
	})
	if both := slices.Concat(ownedPartitions(a, topic), ownedPartitions(bm, topic)); len(slices.Compact(slices.Sorted(slices.Values(both)))) != parts {
		t.Fatalf("members own %v and %v", ownedPartitions(a, topic), ownedPartitions(bm, topic))
	}

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	seenA, seenB := make(chan partOffset, parts*per*2), make(chan partOffset, parts*per*2)
	reader(t, ctx, a, topic, seenA, &wg)
	reader(t, ctx, bm, topic, seenB, &wg)
	for p := range int32(parts) {
		eventually(t, fmt.Sprintf("partition %d committed", p), func() bool { return committed(t, b.Addr(), "rb-group", topic, p) == per })
	}
	cancel()
	wg.Wait()
	close(seenA)
	close(seenB)
	all := map[partOffset]bool{}
	byA, byB := map[int32]bool{}, map[int32]bool{}
	for po := range seenA {
		all[po], byA[po.partition] = true, true
	}
	for po := range seenB {
		all[po], byB[po.partition] = true, true
	}
	if len(all) != parts*per {
		t.Fatalf("delivered %d distinct messages, want %d", len(all), parts*per)
	}
	for p := range byA {
		if byB[p] {
			t.Errorf("partition %d delivered by both members after the split", p)
		}
	}

	// a leaves: b owns everything and reads what comes next.
	if err := a.Close(); err != nil {
		t.Fatal(err)
	}
	eventually(t, "b owns all partitions", func() bool { return len(ownedPartitions(bm, topic)) == parts })
	produceSpread(t, b.Addr(), topic, parts, 10, "second")
	got := readN(t, bm, parts*10)
	for _, m := range got {
		if m.Offset < per {
			t.Errorf("partition %d offset %d delivered again after it was committed", m.Partition, m.Offset)
		}
		bm.Ack(m)
	}
	for p := range int32(parts) {
		eventually(t, fmt.Sprintf("partition %d committed to the end", p), func() bool { return committed(t, b.Addr(), "rb-group", topic, p) == per+10 })
	}
}

// Messages in flight when a rebalance starts: acked within the drain time,
// they are committed before the partitions move and not delivered again;
// acked after it, the ack is ignored and the next owner delivers them again.
func TestSourceRebalanceDrainsInFlight(t *testing.T) {
	for _, tc := range []struct {
		name      string
		ackInTime bool
	}{{"acked during drain", true}, {"acked too late", false}} {
		t.Run(tc.name, func(t *testing.T) {
			const topic, parts, per = "drain", 2, 10
			b := startBroker(t, map[string]int32{topic: parts})
			produceSpread(t, b.Addr(), topic, parts, per, "m")
			group := "drain-" + fmt.Sprint(tc.ackInTime)
			cfg := sourceConfigFor(b.Addr(), topic, group, map[string]any{"rebalance_timeout": 2 * time.Second})

			a := newTestSource(t, cfg, registry.Env{MaxInFlight: 64})
			held := readN(t, a, parts*per)
			bm := newTestSource(t, cfg, registry.Env{MaxInFlight: 64})
			eventually(t, "a's session ends", func() bool { return len(ownedPartitions(a, topic)) == 0 })
			if !tc.ackInTime {
				time.Sleep(1500 * time.Millisecond) // past the drain time (half the rebalance timeout)
			}
			for _, m := range held {
				a.Ack(m)
			}
			eventually(t, "partitions split 1/1", func() bool {
				return len(ownedPartitions(a, topic)) == 1 && len(ownedPartitions(bm, topic)) == 1
			})
			produceSpread(t, b.Addr(), topic, parts, 1, "after")
			want := int64(per)
			if !tc.ackInTime {
				want = 0
			}
			for _, s := range []*source{a, bm} {
				if m := readN(t, s, 1)[0]; m.Offset != want {
					t.Errorf("first offset after the rebalance = %d, want %d", m.Offset, want)
				}
			}
		})
	}
}
