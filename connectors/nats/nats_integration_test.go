//go:build integration

package nats

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// harness runs every check on a stream of its own, deleted afterwards.
func harness() conformance.Harness {
	return conformance.Harness{
		Connector: "nats",
		Features: conformance.Features{
			Key: true, Meta: true, ID: true, Order: true, Redelivery: true, Persistent: true, Binary: true,
			DemandSlack: 0, // MaxAckPending is the flow's limit: the server hands out no more
		},
		Topic: func(t *testing.T) (map[string]any, map[string]any) {
			name := "conf_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
			t.Cleanup(func() { deleteStream(t, name) })
			src := map[string]any{
				"stream": name, "subject": name + ".in", "durable": "d_" + name,
				"ack_wait": 2 * time.Second, "redelivery_delay": 50 * time.Millisecond,
			}
			snk := map[string]any{"stream": name, "subject": name + ".in"}
			return src, snk
		},
		// A message over the server's max_payload (1 MiB by default).
		Refuse: func(_ *testing.T, _, snk map[string]any) (map[string]any, func(*message.Message)) {
			return snk, func(m *message.Message) { m.Body = make([]byte, 2<<20) }
		},
	}
}

func TestConformance(t *testing.T) { conformance.Run(t, harness()) }

func deleteStream(t *testing.T, name string) {
	nc, err := nats.Connect(defaultURL)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Errorf("cleanup: %v", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := js.DeleteStream(ctx, name); err != nil {
		t.Errorf("cleanup: delete stream %s: %v", name, err)
	}
}

func TestCheckReachesServerAndStream(t *testing.T) {
	spec, _ := registry.LookupConnector("nats")
	name := "chk_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	env := func(role string) registry.Env { return conformance.Env(t, role, 0) }
	cfg := func(fields []registry.Field, raw map[string]any) registry.Config {
		return conformance.Config(t, fields, raw)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()

	for _, c := range []struct {
		name, role, want string
		raw              map[string]any
		fields           []registry.Field
	}{
		{"server down", "source", "cannot connect to NATS server 127.0.0.1:1", map[string]any{"url": "nats://127.0.0.1:1", "stream": name, "connect_timeout": time.Second}, spec.SourceFields},
		{"no stream, no create", "source", `stream "` + name + `" does not exist`, map[string]any{"stream": name, "create": false}, spec.SourceFields},
		{"no stream captures the subject", "sink", `no stream on 127.0.0.1:4222 captures subject "` + name + `.x"`, map[string]any{"subject": name + ".x"}, spec.SinkFields},
	} {
		err := spec.Check(ctx, cfg(c.fields, c.raw), env(c.role))
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: Check = %v, want an error containing %q", c.name, err, c.want)
		}
	}

	// Once the stream exists, source and sink checks pass, and a sink on
	// a subject the stream does not capture is refused.
	snk, err := spec.Sink(ctx, cfg(spec.SinkFields, map[string]any{"stream": name, "subject": name + ".a"}), env("sink"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteStream(t, name) })
	_ = snk.Close()
	if err := spec.Check(ctx, cfg(spec.SourceFields, map[string]any{"stream": name, "create": false}), env("source")); err != nil {
		t.Errorf("source check on an existing stream: %v", err)
	}
	if err := spec.Check(ctx, cfg(spec.SinkFields, map[string]any{"subject": name + ".a"}), env("sink")); err != nil {
		t.Errorf("sink check on a captured subject: %v", err)
	}
	err = spec.Check(ctx, cfg(spec.SinkFields, map[string]any{"stream": name, "subject": name + ".b"}), env("sink"))
	if err == nil || !strings.Contains(err.Error(), "does not capture subject") {
		t.Errorf("sink check on a subject outside the stream = %v, want 'does not capture subject'", err)
	}
}

// The connector inside real flowrun processes: SIGKILL, SIGTERM, dead
// letter, and nats-server restarting mid-stream.
func TestGraphConformance(t *testing.T) {
	conformance.RunGraph(t, harness(), conformance.NATSService())
}
