package kafka

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// Keyed messages with headers come out with their key, headers as
// metadata and the watermill UUID header as id; others get an id that is
// stable across redeliveries.
func TestSourceRoundTrip(t *testing.T) {
	b := startBroker(t, map[string]int32{"in": 1})
	produce(t, b.Addr(),
		&kgo.Record{Topic: "in", Key: []byte("user-1"), Value: []byte(`{"n":1}`),
			Headers: []kgo.RecordHeader{{Key: "event_id", Value: []byte("e1")}, {Key: wkafka.UUIDHeaderKey, Value: []byte("uuid-1")}}},
		&kgo.Record{Topic: "in", Value: []byte(`{"n":2}`)},
	)
	s := newTestSource(t, sourceConfigFor(b.Addr(), "in", "g", nil), registry.Env{MaxInFlight: 10})
	got := readN(t, s, 2)

	first, second := got[0], got[1]
	if first.ID != "uuid-1" || first.Key != "user-1" || first.Topic != "in" || string(first.Raw) != `{"n":1}` ||
		!maps.Equal(first.Meta, map[string]string{"event_id": "e1"}) || first.Offset != 0 {
		t.Errorf("first message = %+v", first)
	}
	if second.ID != "in-0-1" || second.Key != "" || string(second.Raw) != `{"n":2}` || len(second.Meta) != 0 || second.Offset != 1 {
		t.Errorf("second message = %+v", second)
	}
}

// Read returns what is ready, up to len(buf), without waiting to fill it.
func TestSourceReadFillsUpToBuffer(t *testing.T) {
	b := startBroker(t, map[string]int32{"in": 1})
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: "in", Value: fmt.Appendf(nil, "%d", i)})
	}
	produce(t, b.Addr(), recs...)
	s := newTestSource(t, sourceConfigFor(b.Addr(), "in", "g", nil), registry.Env{MaxInFlight: 100})
	eventually(t, "10 messages buffered", func() bool { return s.ready.Load() == 10 })

	buf := make([]*message.Message, 4)
	n, err := s.Read(context.Background(), buf)
	if err != nil || n != 4 {
		t.Fatalf("Read = %d, %v; want 4 messages", n, err)
	}
	big := make([]*message.Message, 100)
	n, err = s.Read(context.Background(), big)
	if err != nil || n != 6 {
		t.Fatalf("second Read = %d, %v; want the 6 left", n, err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if n, err := s.Read(ctx, big); n != 0 || err != context.DeadlineExceeded {
		t.Fatalf("Read on an empty topic = %d, %v; want it to block until ctx ends", n, err)
	}
}

// Acks of offsets 2 and 3 before 1 commit only offset 1 (the watermark),
// and a restarted group reads from there again.
func TestSourceOutOfOrderAcksCommitWatermark(t *testing.T) {
	b := startBroker(t, map[string]int32{"in": 1})
	var recs []*kgo.Record
	for i := range 5 {
		recs = append(recs, &kgo.Record{Topic: "in", Value: fmt.Appendf(nil, "m%d", i)})
	}
	produce(t, b.Addr(), recs...)
	cfg := sourceConfigFor(b.Addr(), "in", "wm", nil)
	s := newTestSource(t, cfg, registry.Env{MaxInFlight: 10})
	got := readN(t, s, 5)

	s.Ack(got[2])
	s.Ack(got[3])
	s.Ack(got[0])
	eventually(t, "offset 1 committed", func() bool { return committed(t, b.Addr(), "wm", "in", 0) == 1 })
	time.Sleep(300 * time.Millisecond) // several commit intervals
	if off := committed(t, b.Addr(), "wm", "in", 0); off != 1 {
		t.Fatalf("committed %d with offset 1 unacked; want 1", off)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if off := committed(t, b.Addr(), "wm", "in", 0); off != 1 {
		t.Fatalf("committed %d after close; want 1", off)
	}

	// Offsets 1..4 come again (2 and 3 were acked: at least once).
	again := newTestSource(t, cfg, registry.Env{MaxInFlight: 10})
	redelivered := readN(t, again, 4)
	if offs := offsets(redelivered); !slices.Equal(offs, []int64{1, 2, 3, 4}) {
		t.Fatalf("after restart got offsets %v, want [1 2 3 4]", offs)
	}
	again.Ack(redelivered[0])
	eventually(t, "offset 2 committed once 1 is acked", func() bool { return committed(t, b.Addr(), "wm", "in", 0) == 2 })
	for _, m := range redelivered[1:] {
		again.Ack(m)
	}
	eventually(t, "offset 5 committed", func() bool { return committed(t, b.Addr(), "wm", "in", 0) == 5 })
}

// A nacked message is delivered again and holds the watermark until acked.
func TestSourceNackRedelivers(t *testing.T) {
	b := startBroker(t, map[string]int32{"in": 1})
	produce(t, b.Addr(), &kgo.Record{Topic: "in", Value: []byte("a")}, &kgo.Record{Topic: "in", Value: []byte("b")})
	reg := prometheus.NewRegistry()
	s := newTestSource(t, sourceConfigFor(b.Addr(), "in", "nack", map[string]any{"redelivery_delay": 10 * time.Millisecond}),
		registry.Env{MaxInFlight: 10, Flow: "nack", Metrics: reg})
	got := readN(t, s, 2)
	s.Nack(got[0], errTest)
	s.Ack(got[1])
	if w := gauge(t, reg, "flowrun_source_redeliveries_waiting"); w != 1 {
		t.Fatalf("%v messages waiting for redelivery, want 1", w)
	}

	again := readN(t, s, 1)[0]
	if again.Offset != 0 || string(again.Raw) != "a" || again.ID != got[0].ID {
		t.Fatalf("redelivered %+v, want offset 0 again", again)
	}
	if w, n := gauge(t, reg, "flowrun_source_redeliveries_waiting"), gauge(t, reg, "flowrun_source_redeliveries_total"); w != 0 || n != 1 {
		t.Fatalf("after the redelivery: %v waiting, %v redelivered; want 0 and 1", w, n)
	}
	// Nacked again, it waits twice as long (the backoff of that offset).
	if d := s.retry.policy.Nacked(offsetKey(again), errTest); d != 20*time.Millisecond {
		t.Fatalf("second nack waits %v, want 20ms", d)
	}
	s.retry.policy.HandedOut(1)
	time.Sleep(200 * time.Millisecond)
	if off := committed(t, b.Addr(), "nack", "in", 0); off > 0 {
		t.Fatalf("committed %d while offset 0 is not acked", off)
	}
	s.Ack(again)
	eventually(t, "offset 2 committed", func() bool { return committed(t, b.Addr(), "nack", "in", 0) == 2 })
}

// flowrun_source_lag is the high watermark minus the committed offset.
func TestSourceLagMetric(t *testing.T) {
	b := startBroker(t, map[string]int32{"in": 1})
	var recs []*kgo.Record
	for i := range 10 {
		recs = append(recs, &kgo.Record{Topic: "in", Value: fmt.Appendf(nil, "%d", i)})
	}
	produce(t, b.Addr(), recs...)
	reg := prometheus.NewRegistry()
	s := newTestSource(t, sourceConfigFor(b.Addr(), "in", "lag", nil), registry.Env{Flow: "lagflow", MaxInFlight: 10, Metrics: reg})
	got := readN(t, s, 3)
	for _, m := range got {
		s.Ack(m)
	}
	lag := func() float64 {
		return testutil.ToFloat64(s.lag.WithLabelValues("lagflow", "in", "0"))
	}
	eventually(t, "lag 7", func() bool { return lag() == 7 })
	// A second source in the same process shares the registered gauge.
	if _, err := lagGauge(reg); err != nil {
		t.Fatalf("second registration: %v", err)
	}
	families, err := reg.Gather()
	lagFamilies := 0
	for _, f := range families {
		if f.GetName() == "flowrun_source_lag" {
			lagFamilies++
		}
	}
	if err != nil || lagFamilies != 1 {
		t.Fatalf("gathered %v, %v", families, err)
	}
}

func TestSourceConfigErrors(t *testing.T) {
	cases := []struct {
		values map[string]any
		want   string
	}{
		{map[string]any{"session_timeout": 2 * time.Second}, "session_timeout: 2s is shorter than the 6s"},
		{map[string]any{"heartbeat_interval": 7 * time.Second}, "heartbeat_interval: 7s must be above 0 and below session_timeout"},
		{map[string]any{"topic": ""}, "no topic: set topic"},
		{map[string]any{"topics": []any{"a"}}, "topic and topics are both set"},
		{map[string]any{"brokers": []any{" , "}}, "brokers: no broker address given"},
		{map[string]any{"version": "banana"}, "version: invalid version"},
	}
	for _, c := range cases {
		cfg := sourceConfigFor("127.0.0.1:1", "in", "g", c.values)
		_, err := newSource(context.Background(), cfg, registry.Env{Flow: "f"})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: got %v, want %q", c.values, err, c.want)
		}
	}
}

func TestBrokerListSplitsCommas(t *testing.T) {
	got, err := brokerList(registry.Config{"brokers": []any{"a:1, b:2", "c:3"}})
	if err != nil || !slices.Equal(got, []string{"a:1", "b:2", "c:3"}) {
		t.Fatalf("brokerList = %v, %v", got, err)
	}
}

func offsets(ms []*message.Message) []int64 {
	out := make([]int64, len(ms))
	for i, m := range ms {
		out[i] = m.Offset
	}
	return out
}

// gauge is the value of a flow-labelled counter or gauge in reg.
func gauge(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name {
			m := f.GetMetric()[0]
			return m.GetGauge().GetValue() + m.GetCounter().GetValue()
		}
	}
	return -1
}
