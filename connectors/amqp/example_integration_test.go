//go:build integration

package amqp

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	amqp "github.com/rabbitmq/amqp091-go"
)

// The example flow, run as a user would: sign-ups published by a plain
// AMQP client become e-mail jobs; a bad one is filtered out.
func TestExampleFlow(t *testing.T) {
	for _, q := range []string{"signups", "email-jobs", "signups.dead"} {
		t.Cleanup(func() { deleteQueue(t, q) })
	}
	flow := conformance.StartFlow(t, "../../examples/flows/amqp-signups.yaml")
	conn, err := amqp.Dial(defaultURL)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	ch, err := conn.Channel()
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for { // the flow declares its queue as it starts
		probe, _ := conn.Channel()
		_, err := probe.QueueDeclarePassive("signups", true, false, false, false, nil)
		if err == nil {
			probe.Close()
			break
		}
		flow.Running()
		time.Sleep(100 * time.Millisecond)
	}
	for _, body := range []string{`{"email":"ann@example.com","name":"Ann","plan":"pro"}`, `{"email":"nope","name":"Bob"}`} {
		if err := ch.PublishWithContext(ctx, "", "signups", false, false, amqp.Publishing{Body: []byte(body)}); err != nil {
			t.Fatal(err)
		}
	}
	spec, _ := registry.LookupConnector("amqp")
	src, err := spec.Source(ctx, conformance.Config(t, spec.SourceFields, map[string]any{"queue": "email-jobs"}), conformance.Env(t, "source", 10))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	buf := make([]*message.Message, 4)
	n, err := src.Read(ctx, buf)
	if err != nil || n != 1 {
		t.Fatalf("read (%d, %v), want one job", n, err)
	}
	var job map[string]any
	if err := json.Unmarshal(buf[0].Raw, &job); err != nil || job["to"] != "ann@example.com" || job["template"] != "welcome-pro" {
		t.Fatalf("job %s (%v)", buf[0].Raw, err)
	}
	if buf[0].Meta["amqp_content_type"] != "application/json" {
		t.Fatalf("content type not set from metadata: %v", buf[0].Meta)
	}
	src.Ack(buf[0])
	short, stop := context.WithTimeout(ctx, time.Second)
	defer stop()
	if n, _ := src.Read(short, buf); n != 0 {
		t.Fatalf("the bad sign-up came out: %s", buf[0].Raw)
	}
	flow.Stop()
}
