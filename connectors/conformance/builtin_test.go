package conformance_test

import (
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/connectors/kafka/broker"
	"github.com/flowrun/flowrun/message"
	"github.com/google/uuid"
	"go.uber.org/goleak"

	_ "github.com/flowrun/flowrun/connectors/kafka"
	_ "github.com/flowrun/flowrun/connectors/memory"
)

// The built-in and Kafka connectors run the suite here, in make test,
// with what their brokers guarantee; their owners may move these into
// their own packages.

// memory: fan-out topics with no consumer groups (a new source reads the
// whole topic again), so nothing is claimed across sources; GoChannel
// delivers each message from its own goroutine, so no order either.
func TestMemoryConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Connector: "memory",
		Features:  conformance.Features{Key: true, Meta: true, ID: true, Redelivery: true, Binary: true, DemandSlack: 0},
		Topic: func(t *testing.T) (map[string]any, map[string]any) {
			topic := "conf-" + uuid.NewString()
			return map[string]any{"topic": topic, "redelivery_delay": 10 * time.Millisecond}, map[string]any{"topic": topic}
		},
		// The process-wide GoChannel is never closed, by design.
		Leaks: []goleak.Option{goleak.IgnoreAnyFunction("github.com/ThreeDotsLabs/watermill/pubsub/gochannel.(*GoChannel).sendMessage")},
	})
}

// kafka on the in-process broker, one partition so order holds. The
// source hands out whatever Read asks for, up to its window of tracked
// offsets (1024 per partition): the runtime's demand is its bound.
func TestKafkaConformance(t *testing.T) {
	conformance.Run(t, kafkaHarness(t))
}

// kafkaHarness starts an in-process broker for the test.
func kafkaHarness(t *testing.T) conformance.Harness {
	c, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", Partitions: 1})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return conformance.Harness{
		Connector: "kafka",
		Features:  conformance.Features{Key: true, Meta: true, ID: true, Order: true, Redelivery: true, Persistent: true, Binary: true, DemandSlack: 1024},
		Topic: func(t *testing.T) (map[string]any, map[string]any) {
			topic := "conf-" + uuid.NewString()
			brokers := []any{c.Addr()}
			return map[string]any{"brokers": brokers, "topic": topic, "group": "g-" + topic, "commit_interval": 100 * time.Millisecond},
				map[string]any{"brokers": brokers, "topic": topic}
		},
		// A record over the sink's max_message_bytes is refused for good.
		Refuse: func(_ *testing.T, _, snk map[string]any) (map[string]any, func(*message.Message)) {
			snk["max_message_bytes"] = 4096
			return snk, func(m *message.Message) { m.Body = make([]byte, 8192) }
		},
		// Sarama's metrics library keeps a process-wide ticker.
		Leaks: []goleak.Option{goleak.IgnoreTopFunction("github.com/rcrowley/go-metrics.(*meterArbiter).tick")},
	}
}
