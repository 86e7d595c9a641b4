package kafka

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
)

// Kafka's own vectors (UtilsTest.testMurmur2), as Java's signed ints.
func TestMurmur2MatchesKafkaVectors(t *testing.T) {
	for in, want := range map[string]int32{
		"21":                         -973932308,
		"foobar":                     -790332482,
		"a-little-bit-long-string":   -985981536,
		"a-little-bit-longer-string": -1486304829,
		"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
		"abc": 479470107,
		"":    275646681,
	} {
		if got := int32(murmur2([]byte(in))); got != want {
			t.Errorf("murmur2(%q) = %d, want %d", in, got, want)
		}
	}
	// (h & 0x7fffffff) % n: the sign bit is cleared, not the value negated.
	if got, want := murmur2Partition([]byte("foobar"), 50), int32((uint32(0xd0e47bbe)&0x7fffffff)%50); got != want {
		t.Fatalf("partition of foobar among 50 = %d, want %d", got, want)
	}
}

// keyedMessages are n messages keyed user-0 .. user-(n-1), the key as body.
func keyedMessages(n int) []*message.Message {
	msgs := make([]*message.Message, n)
	for i := range msgs {
		k := fmt.Sprintf("user-%d", i)
		msgs[i] = &message.Message{ID: k, Key: k, Body: []byte(k)}
	}
	return msgs
}

// By default keyed records land where Java's DefaultPartitioner puts
// them, and partitioner: fnv1a keeps Sarama's placement; the two differ
// for most keys, so each test tells them apart.
func TestSinkPartitionerPlacesKeys(t *testing.T) {
	const partitions, n = 6, 60
	for _, tc := range []struct {
		partitioner string
		want        func([]byte, int32) int32
	}{{"", murmur2Partition}, {"murmur2", murmur2Partition}, {"fnv1a", fnv1aPartition}} {
		t.Run("partitioner="+tc.partitioner, func(t *testing.T) {
			b := startBroker(t, map[string]int32{"out": partitions})
			more := map[string]any{}
			if tc.partitioner != "" {
				more["partitioner"] = tc.partitioner
			}
			s := newTestSink(t, b.Addr(), "out", more)
			if err := s.Write(context.Background(), keyedMessages(n)); err != nil {
				t.Fatal(err)
			}
			differ := 0
			for _, r := range consumeAll(t, b.Addr(), "out", n) {
				if want := tc.want(r.Key, partitions); r.Partition != want {
					t.Errorf("key %s on partition %d, want %d", r.Key, r.Partition, want)
				}
				if murmur2Partition(r.Key, partitions) != fnv1aPartition(r.Key, partitions) {
					differ++
				}
			}
			if differ == 0 {
				t.Fatal("murmur2 and fnv1a agree on every key: the test tells nothing")
			}
		})
	}
}

// round_robin ignores keys: each record takes the next partition, so one
// write of 4n records puts n on each of 4 partitions.
func TestSinkRoundRobinSpreadsEveryRecord(t *testing.T) {
	const partitions, n = 4, 10
	b := startBroker(t, map[string]int32{"out": partitions})
	s := newTestSink(t, b.Addr(), "out", map[string]any{"partitioner": "round_robin"})
	msgs := keyedMessages(partitions * n)
	for i := range msgs[:partitions*n/2] {
		msgs[i].Key = "" // keyless ones too
	}
	if err := s.Write(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	count := map[int32]int{}
	for _, r := range consumeAll(t, b.Addr(), "out", len(msgs)) {
		count[r.Partition]++
	}
	for p := range int32(partitions) {
		if count[p] != n {
			t.Fatalf("records per partition %v, want %d on each of %d", count, n, partitions)
		}
	}
}

// kcat (librdkafka) with its murmur2 partitioner, Java's, and the sink
// at its default put every key on the same partition of topics of the
// same size.
func TestSinkMurmur2MatchesKcat(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		if os.Getenv("FLOWRUN_REQUIRE_KCAT") != "" {
			t.Fatal("kcat is not installed but FLOWRUN_REQUIRE_KCAT is set (.ci/run installs it): apt-get install kcat")
		}
		t.Skip("kcat is not installed (apt-get install kcat); .ci/run installs it and makes this test required")
	}
	const partitions, n = 7, 300
	b := startBroker(t, map[string]int32{"kcat.keys": partitions, "flowrun.keys": partitions})
	msgs := keyedMessages(n)
	var in strings.Builder
	for _, m := range msgs {
		fmt.Fprintf(&in, "%s:%s\n", m.Key, m.Body)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", "-b", b.Addr(), "-P", "-t", "kcat.keys", "-K:", "-X", "partitioner=murmur2")
	cmd.Stdin = strings.NewReader(in.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kcat: %v\n%s", err, out)
	}
	s := newTestSink(t, b.Addr(), "flowrun.keys", nil)
	if err := s.Write(context.Background(), msgs); err != nil {
		t.Fatal(err)
	}
	kcatPart := map[string]int32{}
	for _, r := range consumeAll(t, b.Addr(), "kcat.keys", n) {
		kcatPart[string(r.Key)] = r.Partition
	}
	used := map[int32]bool{}
	for _, r := range consumeAll(t, b.Addr(), "flowrun.keys", n) {
		used[r.Partition] = true
		if p, ok := kcatPart[string(r.Key)]; !ok || p != r.Partition {
			t.Errorf("key %s: flowrun wrote partition %d, kcat %d (present %v)", r.Key, r.Partition, p, ok)
		}
	}
	if len(used) != partitions {
		t.Fatalf("keys used %d of %d partitions", len(used), partitions)
	}
}
