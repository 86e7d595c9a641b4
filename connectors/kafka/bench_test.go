package kafka

import (
	"context"
	"fmt"
	"testing"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkSourceReadAck reads and acks b.N pre-loaded messages from 8
// partitions: the source's own cost, without a flow.
func BenchmarkSourceReadAck(b *testing.B) {
	t := &testing.T{}
	br := startBrokerB(b)
	cl, err := kgo.NewClient(kgo.SeedBrokers(br), kgo.DefaultProduceTopic("in"))
	if err != nil {
		b.Fatal(err)
	}
	recs := make([]*kgo.Record, b.N)
	for i := range recs {
		recs[i] = &kgo.Record{Value: fmt.Appendf(nil, `{"id":%d,"amount":12.5,"currency":"EUR"}`, i)}
	}
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
	cl.Close()
	_ = t
	s, err := newSource(context.Background(), sourceConfigFor(br, "in", "bench", nil), registry.Env{Flow: "b", MaxInFlight: 2000, Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	b.ResetTimer()
	buf := make([]*message.Message, 500)
	for got := 0; got < b.N; {
		n, err := s.Read(context.Background(), buf)
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range buf[:n] {
			s.Ack(m)
		}
		got += n
	}
}

// BenchmarkSinkWrite writes b.N messages in sequential writes of 4096,
// as the runtime's sink writer does.
func BenchmarkSinkWrite(b *testing.B) {
	br := startBrokerB(b)
	s, err := newSink(context.Background(), config(sinkFields, map[string]any{"brokers": []any{br}, "topic": "out"}), registry.Env{Logger: testLogger()})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	msgs := make([]*message.Message, 4096)
	for i := range msgs {
		msgs[i] = &message.Message{ID: fmt.Sprint(i), Body: fmt.Appendf(nil, `{"id":%d,"user":"u","amount_cents":1250,"big":false}`, i)}
	}
	b.ResetTimer()
	for left := b.N; left > 0; left -= len(msgs) {
		if err := s.Write(context.Background(), msgs[:min(left, len(msgs))]); err != nil {
			b.Fatal(err)
		}
	}
}

func startBrokerB(b *testing.B) string {
	t := &testing.T{}
	_ = t
	c, err := brokerStart(8)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	return c.Addr()
}
