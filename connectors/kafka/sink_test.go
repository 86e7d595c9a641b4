package kafka

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/cenkalti/backoff/v4"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func newTestSink(t *testing.T, addr, topic string, more map[string]any) *sink {
	t.Helper()
	values := map[string]any{"brokers": []any{addr}, "topic": topic}
	maps.Copy(values, more)
	s, err := newSink(context.Background(), config(sinkFields, values), registry.Env{Flow: "test", Role: "sink", Logger: testLogger()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func headers(r *kgo.Record) map[string]string {
	out := map[string]string{}
	for _, h := range r.Headers {
		out[h.Key] = string(h.Value)
	}
	return out
}

// Body -> value, Key -> key, Meta -> headers, ID -> the watermill UUID
// header: exactly what watermill-kafka's own unmarshaler reads back.
func TestSinkWritesKeysAndHeaders(t *testing.T) {
	b := startBroker(t, map[string]int32{"out": 1})
	s := newTestSink(t, b.Addr(), "out", nil)
	err := s.Write(context.Background(), []*message.Message{
		{ID: "id-1", Key: "user-1", Meta: map[string]string{"event_id": "e1", "flow": "f"}, Body: []byte(`{"a":1}`)},
		{ID: "id-2", Body: []byte(`{"a":2}`)},
	})
	if err != nil {
		t.Fatal(err)
	}
	recs := consumeAll(t, b.Addr(), "out", 2)
	sort.Slice(recs, func(i, j int) bool { return recs[i].Offset < recs[j].Offset })
	if r := recs[0]; string(r.Key) != "user-1" || string(r.Value) != `{"a":1}` ||
		!maps.Equal(headers(r), map[string]string{"event_id": "e1", "flow": "f", wkafka.UUIDHeaderKey: "id-1"}) {
		t.Errorf("first record: key %q value %q headers %v", r.Key, r.Value, headers(r))
	}
	if r := recs[1]; r.Key != nil || string(r.Value) != `{"a":2}` ||
		!maps.Equal(headers(r), map[string]string{wkafka.UUIDHeaderKey: "id-2"}) {
		t.Errorf("second record: key %q value %q headers %v", r.Key, r.Value, headers(r))
	}

	// watermill-kafka reads the same record back as the same message.
	wm, err := wkafka.DefaultMarshaler{}.Unmarshal(&sarama.ConsumerMessage{
		Value: recs[0].Value, Headers: saramaHeaders(recs[0].Headers)})
	if err != nil || wm.UUID != "id-1" || !maps.Equal(map[string]string(wm.Metadata), map[string]string{"event_id": "e1", "flow": "f"}) {
		t.Errorf("watermill reads %+v, %v", wm, err)
	}
}

func saramaHeaders(hs []kgo.RecordHeader) []*sarama.RecordHeader {
	out := make([]*sarama.RecordHeader, len(hs))
	for i, h := range hs {
		out[i] = &sarama.RecordHeader{Key: []byte(h.Key), Value: h.Value}
	}
	return out
}

// A message whose metadata holds the reserved watermill header is refused
// before anything is sent.
func TestSinkRefusesReservedHeader(t *testing.T) {
	b := startBroker(t, map[string]int32{"out": 1})
	s := newTestSink(t, b.Addr(), "out", nil)
	err := s.Write(context.Background(), []*message.Message{{ID: "x", Meta: map[string]string{wkafka.UUIDHeaderKey: "y"}, Body: []byte("v")}})
	if err == nil || !strings.Contains(err.Error(), "reserved by watermill") {
		t.Fatalf("Write = %v, want the reserved header refused", err)
	}
}

// Concurrent writes share the producer; each returns once its own
// messages are acknowledged, and every message is written once.
func TestSinkConcurrentWrites(t *testing.T) {
	b := startBroker(t, map[string]int32{"out": 4})
	s := newTestSink(t, b.Addr(), "out", nil)
	const writers, perWrite = 8, 50
	var wg sync.WaitGroup
	errs := make(chan error, writers)
	for w := range writers {
		wg.Go(func() {
			msgs := make([]*message.Message, perWrite)
			for i := range msgs {
				id := fmt.Sprintf("w%d-%d", w, i)
				msgs[i] = &message.Message{ID: id, Key: id, Body: []byte(id)}
			}
			errs <- s.Write(context.Background(), msgs)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	seen := map[string]int{}
	for _, r := range consumeAll(t, b.Addr(), "out", writers*perWrite) {
		seen[string(r.Value)]++
	}
	if len(seen) != writers*perWrite {
		t.Fatalf("got %d distinct messages, want %d", len(seen), writers*perWrite)
	}
	for v, n := range seen {
		if n != 1 {
			t.Errorf("%s written %d times", v, n)
		}
	}
}

// While the broker refuses produce requests, Write returns the broker's
// error after the producer's own retries; once it recovers, Write succeeds
// and only the successful write is in the topic.
func TestSinkInjectedProduceErrors(t *testing.T) {
	b := startBroker(t, map[string]int32{"out": 1})
	s := newTestSink(t, b.Addr(), "out", map[string]any{"retries": 2, "retry_backoff": 10 * time.Millisecond})
	fault := b.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "out", Err: kerr.NotEnoughReplicas, Count: -1})

	msgs := []*message.Message{{ID: "1", Body: []byte("one")}, {ID: "2", Body: []byte("two")}}
	err := s.Write(context.Background(), msgs)
	var permanent *backoff.PermanentError
	if !errors.Is(err, sarama.ErrNotEnoughReplicas) || !strings.Contains(err.Error(), "2 of 2 messages not written") ||
		errors.As(err, &permanent) {
		t.Fatalf("Write while failing = %v, want NOT_ENOUGH_REPLICAS for 2 of 2, worth retrying", err)
	}
	if hits := fault.Hits(); hits < 3 {
		t.Fatalf("broker saw %d produce requests, want the first try and 2 retries", hits)
	}
	fault.Remove()

	if err := s.Write(context.Background(), msgs); err != nil {
		t.Fatalf("Write after recovery: %v", err)
	}
	recs := consumeAll(t, b.Addr(), "out", 2)
	if len(recs) != 2 || string(recs[0].Value) != "one" || string(recs[1].Value) != "two" {
		t.Fatalf("topic holds %d records", len(recs))
	}
}

// A short outage is absorbed by the producer's retries.
func TestSinkRetriesTransientErrors(t *testing.T) {
	b := startBroker(t, map[string]int32{"out": 1})
	s := newTestSink(t, b.Addr(), "out", map[string]any{"retries": 5, "retry_backoff": 10 * time.Millisecond})
	fault := b.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "out", Err: kerr.NotLeaderForPartition, Count: 2})
	if err := s.Write(context.Background(), []*message.Message{{ID: "1", Body: []byte("one")}}); err != nil {
		t.Fatalf("Write = %v, want the retries to absorb 2 failures", err)
	}
	if fault.Hits() != 2 {
		t.Fatalf("fault hit %d times, want 2", fault.Hits())
	}
	if recs := consumeAll(t, b.Addr(), "out", 1); string(recs[0].Value) != "one" {
		t.Fatalf("got %q", recs[0].Value)
	}
}

// retry_for: 0 sends a write once: a transient refusal goes straight
// back to the flow (its retry middleware or dead letter), unmarked as
// permanent so it may be tried again.
func TestSinkRetryForZeroSendsOnce(t *testing.T) {
	b := startBroker(t, map[string]int32{"out": 1})
	// retries: 0 says the same, as it does to Sarama.
	for _, cfg := range []map[string]any{{"retry_for": time.Duration(0)}, {"retries": 0, "retry_for": time.Hour}} {
		s := newTestSink(t, b.Addr(), "out", cfg)
		fault := b.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "out", Err: kerr.NotEnoughReplicas, Count: -1})
		err := s.Write(context.Background(), []*message.Message{{ID: "1", Body: []byte("one")}})
		var permanent *backoff.PermanentError
		if !errors.Is(err, sarama.ErrNotEnoughReplicas) || errors.As(err, &permanent) {
			t.Fatalf("%v: Write = %v, want NOT_ENOUGH_REPLICAS, worth retrying", cfg, err)
		}
		if hits := fault.Hits(); hits != 1 {
			t.Fatalf("%v: broker saw %d produce requests, want 1", cfg, hits)
		}
		fault.Remove()
	}
}

// Write gives up when its context ends, and Close does not hang on it.
func TestSinkWriteHonoursContext(t *testing.T) {
	b := startBroker(t, map[string]int32{"out": 1})
	s := newTestSink(t, b.Addr(), "out", map[string]any{"retries": 100, "retry_backoff": 50 * time.Millisecond})
	fault := b.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "out", Err: kerr.NotEnoughReplicas, Count: -1})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := s.Write(ctx, []*message.Message{{ID: "1", Body: []byte("one")}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write = %v, want the deadline", err)
	}
	fault.Remove()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(context.Background(), []*message.Message{{ID: "2"}}); err == nil || !strings.Contains(err.Error(), "closed") {
		t.Fatalf("Write after Close = %v", err)
	}
}
