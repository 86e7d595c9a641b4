//go:build integration

package nats

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The example flow, run as a user would: orders published by a plain
// NATS client come out shaped on orders.priority, the others filtered.
func TestExampleFlow(t *testing.T) {
	for _, s := range []string{"ORDERS", "ORDERS_PRIORITY", "ORDERS_DLQ"} {
		t.Cleanup(func() { deleteStream(t, s) })
	}
	flow := conformance.StartFlow(t, "../../examples/flows/nats-orders.yaml")
	nc, err := nats.Connect(defaultURL)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, _ := jetstream.New(nc)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for { // the flow creates its streams as it starts
		if _, err := js.Stream(ctx, "ORDERS_PRIORITY"); err == nil {
			break
		}
		flow.Running()
		time.Sleep(100 * time.Millisecond)
	}
	for _, order := range []string{
		`{"id":"o1","total":250,"status":"paid","customer":"c7"}`,
		`{"id":"o2","total":50,"status":"paid","customer":"c8"}`,
		`{"id":"o3","total":900,"status":"open","customer":"c9"}`,
	} {
		if _, err := js.Publish(ctx, "orders.created", []byte(order)); err != nil {
			t.Fatal(err)
		}
	}
	spec, _ := registry.LookupConnector("nats")
	src, err := spec.Source(ctx, conformance.Config(t, spec.SourceFields, map[string]any{"stream": "ORDERS_PRIORITY", "durable": "example-check"}), conformance.Env(t, "source", 10))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	buf := make([]*message.Message, 4)
	n, err := src.Read(ctx, buf)
	if err != nil || n != 1 {
		t.Fatalf("read (%d, %v), want one order", n, err)
	}
	var got map[string]any
	if err := json.Unmarshal(buf[0].Raw, &got); err != nil || got["order"] != "o1" || got["cents"] != 25000.0 || got["customer"] != "c7" {
		t.Fatalf("output %s (%v)", buf[0].Raw, err)
	}
	if buf[0].Key != "c7" || buf[0].Meta["source"] != "nats-orders" {
		t.Fatalf("key %q meta %v", buf[0].Key, buf[0].Meta)
	}
	src.Ack(buf[0])
	short, stop := context.WithTimeout(ctx, time.Second)
	defer stop()
	if n, _ := src.Read(short, buf); n != 0 {
		t.Fatalf("a filtered order came out: %s", buf[0].Raw)
	}
	flow.Stop()
}
