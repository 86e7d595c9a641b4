//go:build integration

package amqp

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

func harness() conformance.Harness {
	return conformance.Harness{
		Connector: "amqp",
		Features: conformance.Features{
			Key: true, Meta: true, ID: true, Order: true, Redelivery: true, Persistent: true, Binary: true,
			DemandSlack: 0, // basic.qos prefetch is the flow's limit
		},
		Topic: func(t *testing.T) (map[string]any, map[string]any) {
			queue := "conf-" + uuid.NewString()
			t.Cleanup(func() { deleteQueue(t, queue) })
			return map[string]any{"queue": queue, "redelivery_delay": 50 * time.Millisecond}, map[string]any{"queue": queue}
		},
		// Published to amq.topic by key, bound for one-word keys: a key of
		// two words reaches no queue and the broker returns it.
		Refuse: func(t *testing.T, _, snk map[string]any) (map[string]any, func(*message.Message)) {
			bind(t, snk["queue"].(string), "amq.topic", "*")
			return map[string]any{"exchange": "amq.topic"}, func(m *message.Message) { m.Key = "nobody.here" }
		},
	}
}

func TestConformance(t *testing.T) { conformance.Run(t, harness()) }

// The connector inside real flowrun processes: SIGKILL, SIGTERM, dead
// letter, and rabbitmq-server restarting mid-stream.
func TestGraphConformance(t *testing.T) {
	conformance.RunGraph(t, harness(), conformance.RabbitMQService())
}

// bind declares queue as the connector does and binds it to exchange.
func bind(t *testing.T, queue, exchange, key string) {
	conn, err := amqp.Dial(defaultURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	if err := declareQueue(ch, queue, true); err != nil {
		t.Fatal(err)
	}
	if err := ch.QueueBind(queue, key, exchange, false, nil); err != nil {
		t.Fatal(err)
	}
}

func deleteQueue(t *testing.T, queue string) {
	conn, err := amqp.Dial(defaultURL)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	if _, err := ch.QueueDelete(queue, false, false, false); err != nil {
		t.Errorf("cleanup: delete queue %s: %v", queue, err)
	}
}

// A message no queue receives is an error, not a confirmed success.
func TestUnroutableMessageFailsTheWrite(t *testing.T) {
	spec, _ := registry.LookupConnector("amqp")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := conformance.Config(t, spec.SinkFields, map[string]any{"exchange": "amq.topic", "routing_key": "nobody." + uuid.NewString()})
	snk, err := spec.Sink(ctx, cfg, conformance.Env(t, "sink", 0))
	if err != nil {
		t.Fatal(err)
	}
	defer snk.Close()
	err = snk.Write(ctx, []*message.Message{{ID: "x", Body: []byte("lost?")}})
	if !errors.Is(err, errUnroutable) {
		t.Fatalf("Write of an unroutable message = %v, want errUnroutable", err)
	}
}

// Properties and headers map both ways through the amqp_* metadata.
func TestPropertiesTravelAsMeta(t *testing.T) {
	spec, _ := registry.LookupConnector("amqp")
	h := harness()
	src, snk := h.Topic(t)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sk, err := spec.Sink(ctx, conformance.Config(t, spec.SinkFields, snk), conformance.Env(t, "sink", 0))
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Close()
	in := &message.Message{ID: "p1", Body: []byte("{}"), Meta: map[string]string{"amqp_content_type": "application/json", "amqp_correlation_id": "c-9", "plain": "v"}}
	if err := sk.Write(ctx, []*message.Message{in}); err != nil {
		t.Fatal(err)
	}
	so, err := spec.Source(ctx, conformance.Config(t, spec.SourceFields, src), conformance.Env(t, "source", 4))
	if err != nil {
		t.Fatal(err)
	}
	defer so.Close()
	buf := make([]*message.Message, 1)
	if _, err := so.Read(ctx, buf); err != nil {
		t.Fatal(err)
	}
	got := buf[0]
	so.Ack(got)
	want := map[string]string{"amqp_content_type": "application/json", "amqp_correlation_id": "c-9", "plain": "v",
		"amqp_exchange": "", "amqp_routing_key": src["queue"].(string)}
	for k, v := range want {
		if got.Meta[k] != v {
			t.Errorf("meta[%q] = %q, want %q (all: %v)", k, got.Meta[k], v, got.Meta)
		}
	}
}

func TestCheck(t *testing.T) {
	spec, _ := registry.LookupConnector("amqp")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	missing := "missing-" + uuid.NewString()
	for _, tc := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"queue": "q", "url": "amqp://guest:guest@127.0.0.1:1/"}, "cannot reach RabbitMQ at amqp://guest:xxxxx@127.0.0.1:1/"},
		{map[string]any{"queue": missing, "declare": false}, `queue "` + missing + `" does not exist`},
		{map[string]any{"queue": missing, "exchange": "no-such-" + missing}, `exchange "no-such-`},
		{map[string]any{"queue": missing}, ""},
	} {
		err := spec.Check(ctx, conformance.Config(t, spec.SourceFields, tc.raw), conformance.Env(t, "source", 0))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Check(%v) = %v, want nil", tc.raw, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Check(%v) = %v, want an error containing %q", tc.raw, err, tc.want)
		}
	}
}
