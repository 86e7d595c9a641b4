package kafka

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/connectors/internal/resend"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// testMessages are n messages with keys (some keyless), metadata (some
// none), and a nil body among them.
func testMessages(prefix string, n int) []*message.Message {
	msgs := make([]*message.Message, n)
	for i := range msgs {
		m := &message.Message{ID: fmt.Sprintf("%s-%d", prefix, i), Body: []byte(fmt.Sprintf(`{"n":%d}`, i)),
			Meta: map[string]string{"n": fmt.Sprint(i), "source": "test"}}
		if i%5 != 4 {
			m.Key = fmt.Sprintf("key-%d", i%7)
		}
		if i%9 == 3 {
			m.Meta = nil
		}
		if i == 11 {
			m.Body = nil
		}
		msgs[i] = m
	}
	return msgs
}

// recordBytes is what a consumer gets of a record: partition, key,
// value and headers (sorted: both paths take Meta in Go's map order),
// nil kept apart from empty.
func recordBytes(r *kgo.Record) string {
	var b bytes.Buffer
	field := func(p []byte) {
		if p == nil {
			b.WriteString("<nil>|")
			return
		}
		fmt.Fprintf(&b, "%q|", p)
	}
	fmt.Fprintf(&b, "p%d|", r.Partition)
	field(r.Key)
	field(r.Value)
	hs := slices.Clone(r.Headers)
	slices.SortFunc(hs, func(a, b kgo.RecordHeader) int { return strings.Compare(a.Key, b.Key) })
	for _, h := range hs {
		fmt.Fprintf(&b, "%q=", h.Key)
		field(h.Value)
	}
	return b.String()
}

// byPartition is the records' bytes in offset order, per partition.
func byPartition(recs []*kgo.Record) map[int32][]string {
	slices.SortFunc(recs, func(a, b *kgo.Record) int { return int(a.Offset - b.Offset) })
	out := map[int32][]string{}
	for _, r := range recs {
		out[r.Partition] = append(out[r.Partition], recordBytes(r))
	}
	return out
}

// With idempotent: true the records are the ones the default path
// writes, byte for byte, on the same partitions in the same order, for
// every partitioner and with compression; they carry a producer id, got
// from the broker with InitProducerID, which the default path never asks.
func TestIdempotentSinkWritesWhatTheDefaultPathWrites(t *testing.T) {
	for _, tc := range []map[string]any{
		{"partitioner": "murmur2"},
		{"partitioner": "fnv1a", "compression": "gzip"},
		{"partitioner": "round_robin", "compression": "zstd"},
		{"compression": "lz4"},
		{"compression": "snappy"},
	} {
		t.Run(fmt.Sprint(tc), func(t *testing.T) {
			b := startBroker(t, map[string]int32{"plain": 4, "idem": 4})
			inits := b.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.InitProducerID}, Observe: true, Count: -1})
			plain := newTestSink(t, b.Addr(), "plain", tc)
			idem := newTestSink(t, b.Addr(), "idem", withIdempotent(tc))
			plain.keyless.Store(7) // the same keyless partitions for both
			idem.keyless.Store(7)
			for w := range 3 {
				msgs := testMessages(fmt.Sprint("w", w), 40)
				if err := plain.Write(context.Background(), msgs); err != nil {
					t.Fatal(err)
				}
				if err := idem.Write(context.Background(), msgs); err != nil {
					t.Fatal(err)
				}
			}
			if inits.Hits() != 1 {
				t.Errorf("broker saw %d InitProducerID requests, want 1 (the idempotent sink's)", inits.Hits())
			}
			want, got := consumeAll(t, b.Addr(), "plain", 120), consumeAll(t, b.Addr(), "idem", 120)
			for _, r := range want {
				if r.ProducerID != -1 {
					t.Fatalf("default path record has producer id %d", r.ProducerID)
				}
			}
			for _, r := range got {
				if r.ProducerID < 0 {
					t.Fatalf("idempotent record has no producer id: %+v", r)
				}
			}
			wp, gp := byPartition(want), byPartition(got)
			if len(wp) < 2 {
				t.Fatalf("records on %d partitions: the test should spread them", len(wp))
			}
			for p := range int32(4) {
				if !slices.Equal(wp[p], gp[p]) {
					t.Errorf("partition %d:\n default    %q\n idempotent %q", p, wp[p], gp[p])
				}
			}
		})
	}
}

// stallGuard bounds a write that goes through broker faults.
func stallGuard(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// oneAPartition is n messages whose keys land on partitions 0..n-1
// (murmur2, n partitions): one batch per partition.
func oneAPartition(prefix string, n int) []*message.Message {
	msgs := make([]*message.Message, n)
	for k, filled := 0, 0; filled < n; k++ {
		key := fmt.Sprint("key-", k)
		if p := murmur2Partition([]byte(key), int32(n)); msgs[p] == nil {
			msgs[p] = &message.Message{ID: fmt.Sprintf("%s-%d", prefix, p), Key: key, Body: []byte(key)}
			filled++
		}
	}
	return msgs
}

func withIdempotent(values map[string]any) map[string]any {
	out := map[string]any{"idempotent": true}
	for k, v := range values {
		out[k] = v
	}
	return out
}

func checkOnlyFailed(t *testing.T, err error, i int) {
	t.Helper()
	var we *registry.WriteError
	if !errors.As(err, &we) || !slices.Equal(we.Failed, []int{i}) || !resend.IsPermanent(we.Err) {
		t.Fatalf("Write = %v, want a permanent WriteError naming only message %d", err, i)
	}
}

// validate refuses what Kafka's idempotent producer cannot do.
func TestValidateIdempotent(t *testing.T) {
	spec, ok := registry.LookupConnector("kafka")
	if !ok {
		t.Fatal("no kafka connector")
	}
	for _, tc := range []struct {
		values map[string]any
		want   string // "" for valid
	}{
		{map[string]any{}, ""},
		{map[string]any{"acks": "all"}, ""},
		{map[string]any{"acks": "leader"}, "needs acks: all"},
		{map[string]any{"acks": "none"}, "needs acks: all"},
		{map[string]any{"retries": 0}, "retries of at least 1"},
		{map[string]any{"retry_for": time.Duration(0)}, "retry_for above 0"},
	} {
		values := withIdempotent(tc.values)
		values["brokers"], values["topic"] = []any{"127.0.0.1:1"}, "out"
		err := spec.ValidateSink(config(sinkFields, values))
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("ValidateSink(%v) = %v, want %q", tc.values, err, tc.want)
		}
	}
	// Without idempotence, acks: leader stays allowed.
	if err := spec.ValidateSink(config(sinkFields, map[string]any{"brokers": []any{"127.0.0.1:1"}, "topic": "out", "acks": "leader"})); err != nil {
		t.Errorf("ValidateSink(acks: leader) = %v", err)
	}
}

// retry_for maps onto the producer's retries: their waits add up to it.
func TestIdempotentRetriesSpanRetryFor(t *testing.T) {
	for _, tc := range []struct {
		retryFor, first time.Duration
		want            int
	}{
		{30 * time.Second, 250 * time.Millisecond, 18}, // 0.25+0.5+1+2 = 3.75s, then 14 x 2s
		{time.Second, 250 * time.Millisecond, 3},
		{time.Millisecond, 250 * time.Millisecond, 1},
		{10 * time.Second, 5 * time.Second, 2},
	} {
		if got := retriesWithin(tc.retryFor, tc.first, max(2*time.Second, tc.first)); got != tc.want {
			t.Errorf("retriesWithin(%s, %s) = %d, want %d", tc.retryFor, tc.first, got, tc.want)
		}
	}
	sc := sarama.NewConfig()
	if err := idempotentConfig(sc, config(sinkFields, map[string]any{"idempotent": true, "retries": 5})); err != nil {
		t.Fatal(err)
	}
	if !sc.Producer.Idempotent || sc.Net.MaxOpenRequests != 1 || sc.Producer.RequiredAcks != sarama.WaitForAll || sc.Producer.Retry.Max != 5 {
		t.Fatalf("config: idempotent %v, max open requests %d, acks %d, retries %d", sc.Producer.Idempotent, sc.Net.MaxOpenRequests, sc.Producer.RequiredAcks, sc.Producer.Retry.Max)
	}
	if err := sc.Validate(); err != nil {
		t.Fatal(err)
	}
}
