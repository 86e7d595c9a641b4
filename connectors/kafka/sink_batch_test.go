package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/cenkalti/backoff/v4"
	"github.com/flowrun/flowrun/connectors/kafka/broker"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// startBrokers starts an in-process cluster of n brokers with one topic.
func startBrokers(t *testing.T, n int, topic string, partitions int32) *broker.Cluster {
	t.Helper()
	c, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", Logger: testLogger()},
		kfake.NumBrokers(n), kfake.SeedTopics(partitions, topic))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	if got := len(c.ListenAddrs()); got != n {
		t.Fatalf("cluster has %d brokers, want %d", got, n)
	}
	return c
}

// saramaPartition is where Sarama's own hash partitioner puts key among
// n partitions: where watermill and other Sarama programs put it.
func saramaPartition(t *testing.T, key string, n int32) int32 {
	t.Helper()
	p, err := sarama.NewHashPartitioner("out").Partition(&sarama.ProducerMessage{Key: sarama.StringEncoder(key)}, n)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestFNV1aPartitionMatchesSarama(t *testing.T) {
	for n := int32(1); n <= 64; n++ {
		for i := range 500 {
			key := fmt.Sprintf("user-%d", i*7919)
			if i%50 == 0 {
				key = strings.Repeat("k", i) // long keys, and the empty key
			}
			if got, want := fnv1aPartition([]byte(key), n), saramaPartition(t, key, n); got != want {
				t.Fatalf("key %q, %d partitions: fnv1aPartition %d, Sarama %d", key, n, got, want)
			}
		}
	}
}

// sentChain runs writes one after the other as the runtime does with a
// sink that calls registry.Sent: write i starts once write i-1 said it
// has queued everything, and they then wait for their acks together. It
// fails the test if a write returns without having called Sent.
func sentChain(t *testing.T, s *sink, writes [][]*message.Message) []error {
	t.Helper()
	errs := make([]error, len(writes))
	queued := make([]chan struct{}, len(writes))
	for i := range queued {
		queued[i] = make(chan struct{})
	}
	var wg sync.WaitGroup
	for i, msgs := range writes {
		wg.Go(func() {
			if i > 0 {
				<-queued[i-1]
			}
			var sent atomic.Bool
			var once sync.Once
			release := func() { once.Do(func() { close(queued[i]) }) }
			ctx := registry.WithSent(context.Background(), func() { sent.Store(true); release() })
			errs[i] = s.Write(ctx, msgs)
			release()
			if !sent.Load() {
				t.Errorf("write %d returned (%v) without calling registry.Sent", i, errs[i])
			}
		})
	}
	wg.Wait()
	return errs
}

// One write spans several partitions led by two brokers: every message
// lands once, on the partition Sarama's partitioner picks for its key
// (partitioner: fnv1a),
// and each key's messages are in order, across writes in flight together.
func TestSinkWritesPartitionsOnTwoBrokers(t *testing.T) {
	const partitions, keys, perKey, writes = 6, 40, 3, 4
	b := startBrokers(t, 2, "out", partitions)
	for p := range int32(partitions) {
		if err := b.MoveTopicPartition("out", p, p%2); err != nil {
			t.Fatal(err)
		}
	}
	var perNode [2]*kfake.FaultHandle
	for node := range perNode {
		perNode[node] = b.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Nodes: []int32{int32(node)}, Observe: true, Count: -1})
	}
	s := newTestSink(t, b.Addr(), "out", map[string]any{"partitioner": "fnv1a"})

	var batches [][]*message.Message
	for w := range writes {
		var msgs []*message.Message
		for j := range perKey {
			for k := range keys {
				seq := w*perKey + j
				msgs = append(msgs, &message.Message{ID: fmt.Sprintf("k%d-%d", k, seq), Key: fmt.Sprintf("k%d", k),
					Body: fmt.Appendf(nil, "%d", seq)})
			}
		}
		batches = append(batches, msgs)
	}
	for i, err := range sentChain(t, s, batches) {
		if err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
	}
	for node, h := range perNode {
		if h.Hits() == 0 {
			t.Errorf("broker %d received no produce request", node)
		}
	}

	recs := consumeAll(t, b.Addr(), "out", keys*perKey*writes)
	slices.SortFunc(recs, func(a, b *kgo.Record) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	last := map[string]int{}
	seen := map[string]bool{}
	for _, r := range recs {
		key, id := string(r.Key), headers(r)["_watermill_message_uuid"]
		if seen[id] {
			t.Fatalf("%s written twice", id)
		}
		seen[id] = true
		if want := saramaPartition(t, key, partitions); r.Partition != want {
			t.Errorf("key %s on partition %d, Sarama puts it on %d", key, r.Partition, want)
		}
		seq, _ := strconv.Atoi(string(r.Value))
		if prev, ok := last[key]; ok && seq != prev+1 {
			t.Errorf("key %s: %d follows %d", key, seq, prev)
		} else if !ok && seq != 0 {
			t.Errorf("key %s starts at %d", key, seq)
		}
		last[key] = seq
	}
	if len(seen) != keys*perKey*writes {
		t.Fatalf("%d distinct messages, want %d", len(seen), keys*perKey*writes)
	}
}

// Keyless messages of one write go to one partition, in order; the next
// write takes another partition.
func TestSinkKeylessWriteSticksToOnePartition(t *testing.T) {
	b := startBroker(t, map[string]int32{"out": 4})
	s := newTestSink(t, b.Addr(), "out", nil)
	const writes, per = 4, 50
	for w := range writes {
		msgs := make([]*message.Message, per)
		for i := range msgs {
			msgs[i] = &message.Message{ID: fmt.Sprintf("%d-%d", w, i), Body: fmt.Appendf(nil, "%d", i)}
		}
		if err := s.Write(context.Background(), msgs); err != nil {
			t.Fatal(err)
		}
	}
	byWrite := map[string]map[int32][]string{}
	for _, r := range consumeAll(t, b.Addr(), "out", writes*per) {
		w, _, _ := strings.Cut(headers(r)["_watermill_message_uuid"], "-")
		if byWrite[w] == nil {
			byWrite[w] = map[int32][]string{}
		}
		byWrite[w][r.Partition] = append(byWrite[w][r.Partition], string(r.Value))
	}
	used := map[int32]bool{}
	for w, parts := range byWrite {
		if len(parts) != 1 {
			t.Fatalf("write %s spread over %d partitions", w, len(parts))
		}
		for p, values := range parts {
			used[p] = true
			for i, v := range values {
				if v != strconv.Itoa(i) {
					t.Fatalf("write %s on partition %d out of order: %v", w, p, values)
				}
			}
		}
	}
	if len(used) != writes {
		t.Fatalf("%d writes used partitions %v, want one each in turn", writes, used)
	}
}

// A partition that keeps refusing fails only its messages: the write
// returns a WriteError naming exactly those, after the retries, and the
// other messages are in the topic once.
func TestSinkPartialFailureNamesTheFailed(t *testing.T) {
	const partitions, bad = 4, 2
	b := startBroker(t, map[string]int32{"out": partitions})
	s := newTestSink(t, b.Addr(), "out", map[string]any{"retries": 2, "retry_backoff": 10 * time.Millisecond})
	fault := b.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "out", Partitions: []int32{bad}, Err: kerr.NotEnoughReplicas, Count: -1})

	var msgs []*message.Message
	var wantFailed []int
	good := map[string]bool{}
	for i := range 40 {
		key := fmt.Sprintf("k%d", i)
		msgs = append(msgs, &message.Message{ID: key, Key: key, Body: []byte(key)})
		if murmur2Partition([]byte(key), partitions) == bad {
			wantFailed = append(wantFailed, i)
		} else {
			good[key] = true
		}
	}
	if len(wantFailed) == 0 || len(good) == 0 {
		t.Fatalf("keys do not cover both good partitions and the bad one")
	}
	err := s.Write(context.Background(), msgs)
	var partial *registry.WriteError
	if !errors.As(err, &partial) || !slices.Equal(partial.Failed, wantFailed) {
		t.Fatalf("Write = %v, want a WriteError for messages %v", err, wantFailed)
	}
	if !errors.Is(err, sarama.ErrNotEnoughReplicas) || !strings.Contains(err.Error(), fmt.Sprintf("%d of 40 messages not written", len(wantFailed))) {
		t.Fatalf("Write = %v, want NOT_ENOUGH_REPLICAS for %d of 40", err, len(wantFailed))
	}
	if hits := fault.Hits(); hits < 3 {
		t.Fatalf("the bad partition was tried %d times, want the first try and 2 retries", hits)
	}
	recs := consumeAll(t, b.Addr(), "out", len(good))
	if len(recs) != len(good) {
		t.Fatalf("topic holds %d records, want %d", len(recs), len(good))
	}
	for _, r := range recs {
		if !good[string(r.Value)] {
			t.Fatalf("%s in the topic", r.Value)
		}
		delete(good, string(r.Value))
	}
	if len(good) != 0 {
		t.Fatalf("missing %v", good)
	}
}

// A message larger than max_message_bytes fails on its own, before
// anything is sent; its neighbours are written, in order.
func TestSinkOversizedMessageFailsAlone(t *testing.T) {
	b := startBroker(t, map[string]int32{"out": 1})
	s := newTestSink(t, b.Addr(), "out", map[string]any{"max_message_bytes": 1000})
	msgs := []*message.Message{
		{ID: "1", Body: []byte("one")}, {ID: "2", Body: []byte("two")},
		{ID: "big", Body: []byte(strings.Repeat("x", 2000))}, {ID: "3", Body: []byte("three")},
	}
	err := s.Write(context.Background(), msgs)
	var partial *registry.WriteError
	var permanent *backoff.PermanentError // sending it again cannot help: the retry middleware leaves it
	if !errors.As(err, &partial) || !slices.Equal(partial.Failed, []int{2}) || !errors.As(err, &permanent) ||
		!strings.Contains(err.Error(), "larger than configured Producer.MaxMessageBytes") {
		t.Fatalf("Write = %v, want a permanent WriteError for message 2 only", err)
	}
	var got []string
	for _, r := range consumeAll(t, b.Addr(), "out", 3) {
		got = append(got, string(r.Value))
	}
	if !slices.Equal(got, []string{"one", "two", "three"}) {
		t.Fatalf("topic holds %v", got)
	}
	// Alone in its write, it fails the write.
	err = s.Write(context.Background(), msgs[2:3])
	if errors.As(err, &partial) || !strings.Contains(err.Error(), "1 of 1 messages not written") {
		t.Fatalf("Write of the big message alone = %v", err)
	}
}

// max_message_bytes splits a partition's records into several batches
// (sent in successive requests), none larger than the limit, each as a
// non-idempotent producer writes it; all messages arrive in order.
func TestSinkSplitsBatchesAtMaxMessageBytes(t *testing.T) {
	const limit, n = 2000, 200
	b := startBroker(t, map[string]int32{"out": 1})
	var mu sync.Mutex
	var sizes []int
	var bad []string
	b.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Observe: true, Count: -1, When: func(r kmsg.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		for _, tp := range r.(*kmsg.ProduceRequest).Topics {
			for _, p := range tp.Partitions {
				sizes = append(sizes, len(p.Records))
				var rb kmsg.RecordBatch
				if err := rb.ReadFrom(p.Records); err != nil {
					bad = append(bad, err.Error())
					continue
				}
				if rb.Magic != 2 || rb.ProducerID != -1 || rb.ProducerEpoch != -1 || rb.FirstSequence != -1 ||
					rb.LastOffsetDelta != rb.NumRecords-1 || rb.FirstTimestamp != rb.MaxTimestamp ||
					time.Since(time.UnixMilli(rb.FirstTimestamp)) > time.Minute {
					bad = append(bad, fmt.Sprintf("%+v", rb))
				}
			}
		}
		return true
	}})
	s := newTestSink(t, b.Addr(), "out", map[string]any{"max_message_bytes": limit})
	msgs := make([]*message.Message, n)
	for i := range msgs {
		msgs[i] = &message.Message{ID: strconv.Itoa(i), Body: fmt.Appendf(nil, "%03d%s", i, strings.Repeat("v", 100))}
	}
	if err := s.Write(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	recs := consumeAll(t, b.Addr(), "out", n)
	for i, r := range recs {
		if !strings.HasPrefix(string(r.Value), fmt.Sprintf("%03d", i)) {
			t.Fatalf("record %d is %.3s", i, r.Value)
		}
	}
	mu.Lock()
	defer mu.Unlock()
	if len(bad) > 0 {
		t.Fatalf("batches not as a non-idempotent producer writes them: %v", bad)
	}
	if len(sizes) < 2 {
		t.Fatalf("%d batches for %d messages of ~150 bytes under a %d-byte limit", len(sizes), n, limit)
	}
	for _, size := range sizes {
		if size > limit {
			t.Fatalf("a batch of %d bytes, over max_message_bytes %d (all: %v)", size, limit, sizes)
		}
	}
}

// With acks none the broker sends no response: a write counts as done
// once sent, and the messages arrive.
func TestSinkAcksNone(t *testing.T) {
	b := startBroker(t, map[string]int32{"out": 2})
	s := newTestSink(t, b.Addr(), "out", map[string]any{"acks": "none"})
	msgs := make([]*message.Message, 100)
	for i := range msgs {
		msgs[i] = &message.Message{ID: strconv.Itoa(i), Key: strconv.Itoa(i % 7), Body: fmt.Appendf(nil, "%d", i)}
	}
	for _, half := range [][]*message.Message{msgs[:50], msgs[50:]} {
		if err := s.Write(context.Background(), half); err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	for _, r := range consumeAll(t, b.Addr(), "out", len(msgs)) {
		seen[string(r.Value)]++
	}
	if len(seen) != len(msgs) {
		t.Fatalf("%d distinct messages, want %d", len(seen), len(msgs))
	}
}

// Every compression codec writes batches compressed with it, which the
// broker and another client read.
func TestSinkCompression(t *testing.T) {
	b := startBroker(t, map[string]int32{"out": 1})
	var want []string
	for _, codec := range []string{"gzip", "snappy", "lz4", "zstd"} {
		s := newTestSink(t, b.Addr(), "out", map[string]any{"compression": codec})
		msgs := make([]*message.Message, 20)
		for i := range msgs {
			v := fmt.Sprintf("%s-%d-%s", codec, i, strings.Repeat("z", 50))
			want = append(want, v)
			msgs[i] = &message.Message{ID: v, Body: []byte(v)}
		}
		if err := s.Write(context.Background(), msgs); err != nil {
			t.Fatalf("%s: %v", codec, err)
		}
	}
	var got []string
	codecs := map[string]uint8{"gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4} // the batch attribute's codec bits
	for _, r := range consumeAll(t, b.Addr(), "out", len(want)) {
		got = append(got, string(r.Value))
		codec, _, _ := strings.Cut(string(r.Value), "-")
		if c := r.Attrs.CompressionType(); c != codecs[codec] {
			t.Errorf("a %s record came in a batch compressed with codec %d, want %d", codec, c, codecs[codec])
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("topic holds %d records, not the %d written in order", len(got), len(want))
	}
}

// When a partition's leader moves, the old leader refuses the batch
// (NOT_LEADER_FOR_PARTITION); the sink refreshes metadata and writes it
// to the new leader.
func TestSinkFollowsAMovedLeader(t *testing.T) {
	b := startBrokers(t, 2, "out", 1)
	s := newTestSink(t, b.Addr(), "out", map[string]any{"retries": 3, "retry_backoff": 10 * time.Millisecond})
	if err := s.Write(context.Background(), []*message.Message{{ID: "1", Body: []byte("one")}}); err != nil {
		t.Fatal(err)
	}
	from := b.LeaderFor("out", 0)
	if err := b.MoveTopicPartition("out", 0, 1-from); err != nil {
		t.Fatal(err)
	}
	refused := b.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Nodes: []int32{from}, Observe: true, Count: -1})
	if err := s.Write(context.Background(), []*message.Message{{ID: "2", Body: []byte("two")}}); err != nil {
		t.Fatalf("Write after the leader moved: %v", err)
	}
	if refused.Hits() == 0 {
		t.Log("the sink's metadata already named the new leader")
	}
	recs := consumeAll(t, b.Addr(), "out", 2)
	if len(recs) != 2 || string(recs[0].Value) != "one" || string(recs[1].Value) != "two" {
		t.Fatalf("topic holds %d records", len(recs))
	}
}

// A connection the broker drops mid-request is closed and opened again,
// and the request sent again.
func TestSinkRecoversFromADroppedConnection(t *testing.T) {
	b := startBroker(t, map[string]int32{"out": 1})
	s := newTestSink(t, b.Addr(), "out", map[string]any{"retries": 3, "retry_backoff": 10 * time.Millisecond})
	if err := s.Write(context.Background(), []*message.Message{{ID: "1", Body: []byte("one")}}); err != nil {
		t.Fatal(err)
	}
	var dropped atomic.Int32
	b.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		dropped.Add(1)
		return nil, errors.New("dropped by the test"), true // closes the connection
	})
	if err := s.Write(context.Background(), []*message.Message{{ID: "2", Body: []byte("two")}}); err != nil {
		t.Fatalf("Write across a dropped connection: %v", err)
	}
	if dropped.Load() != 1 {
		t.Fatalf("%d connections dropped, want 1", dropped.Load())
	}
	recs := consumeAll(t, b.Addr(), "out", 2)
	if len(recs) != 2 || string(recs[0].Value) != "one" || string(recs[1].Value) != "two" {
		t.Fatalf("topic holds %d records", len(recs))
	}
}

// The sink writes record batches: Kafka before 0.11 cannot take them.
func TestSinkRefusesKafkaBefore011(t *testing.T) {
	cfg := config(sinkFields, map[string]any{"brokers": []any{"127.0.0.1:1"}, "topic": "out", "version": "0.10.2.0"})
	if _, err := newSink(context.Background(), cfg, registry.Env{Logger: testLogger()}); err == nil || !strings.Contains(err.Error(), "0.11.0 or later") {
		t.Fatalf("newSink = %v", err)
	}
	spec, ok := registry.LookupConnector("kafka")
	if !ok {
		t.Fatal("no kafka connector")
	}
	if err := spec.ValidateSink(cfg); err == nil || !strings.Contains(err.Error(), "0.11.0 or later") {
		t.Fatalf("ValidateSink = %v", err)
	}
	cfg["version"] = "3.6.0"
	if err := spec.ValidateSink(cfg); err != nil {
		t.Fatalf("ValidateSink of 3.6.0 = %v", err)
	}
}

// A partition that refuses writes is probed with one batch per attempt,
// not sent every batch of each write again; once it takes the probe, the
// rest follows in order.
func TestSinkProbesAFailingPartition(t *testing.T) {
	b := startBroker(t, map[string]int32{"out": 1})
	s := newTestSink(t, b.Addr(), "out", map[string]any{"max_message_bytes": 1000, "retries": 2, "retry_backoff": 10 * time.Millisecond})
	msgs := make([]*message.Message, 50)
	for i := range msgs {
		msgs[i] = &message.Message{ID: strconv.Itoa(i), Body: fmt.Appendf(nil, "%02d%s", i, strings.Repeat("v", 100))}
	}
	fault := b.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "out", Err: kerr.NotEnoughReplicas, Count: -1})
	if err := s.Write(context.Background(), msgs); !errors.Is(err, sarama.ErrNotEnoughReplicas) {
		t.Fatalf("Write while failing = %v", err)
	}
	// The first attempt sends every batch (10 of 5 records); the
	// partition then counts as failing and the two retries probe it.
	first := fault.Hits()
	if first != 10+2 {
		t.Fatalf("first write: %d requests, want 10 batches then 2 probes", first)
	}
	if err := s.Write(context.Background(), msgs); !errors.Is(err, sarama.ErrNotEnoughReplicas) {
		t.Fatalf("second Write while failing = %v", err)
	}
	if probes := fault.Hits() - first; probes != 3 {
		t.Fatalf("second write: %d requests, want one probe per attempt (3)", probes)
	}
	fault.Remove()
	if err := s.Write(context.Background(), msgs); err != nil {
		t.Fatalf("Write after recovery: %v", err)
	}
	for i, r := range consumeAll(t, b.Addr(), "out", len(msgs)) {
		if !strings.HasPrefix(string(r.Value), fmt.Sprintf("%02d", i)) {
			t.Fatalf("record %d is %.2s", i, r.Value)
		}
	}
}
