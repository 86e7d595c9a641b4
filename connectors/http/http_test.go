package http

import (
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/message"
)

// freeAddr is a loopback address nothing listens on right now.
func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return "127.0.0.1:" + strconv.Itoa(ln.Addr().(*net.TCPAddr).Port)
}

// harness: a webhook source and a sink POSTing to it. The "broker" is
// the caller: a message the source did not acknowledge is answered 503
// and sent again by the sink, so redelivery and crash recovery hold as
// long as the sink keeps retrying.
func harness() conformance.Harness {
	return conformance.Harness{
		Connector: "http",
		Features: conformance.Features{
			Key: true, Meta: true, ID: true, Redelivery: true, Persistent: true, Binary: true,
			Order:       false, // the sink sends 16 requests at once
			DemandSlack: 0,     // requests beyond the limit wait in their handlers
		},
		Topic: func(t *testing.T) (map[string]any, map[string]any) {
			addr := freeAddr(t)
			src := map[string]any{"address": addr, "path": "/in", "queue_timeout": time.Second, "ack_timeout": 10 * time.Second,
				// the metadata the suite sends, a dead letter's included
				"meta_headers": []any{"X-Meta-Seq", "X-Meta-Trace-Id", "X-Meta-Note", "X-Meta-Error", "X-Meta-Error_stage", "X-Meta-Flow", "X-Meta-Attempts"}}
			snk := map[string]any{"url": "http://" + addr + "/in", "parallel": 16,
				"initial_backoff": 20 * time.Millisecond, "max_backoff": 200 * time.Millisecond, "retry_for": 30 * time.Second}
			return src, snk
		},
		// A body over the webhook's max_body gets 413.
		Refuse: func(_ *testing.T, src, snk map[string]any) (map[string]any, func(*message.Message)) {
			src["max_body"] = 4096
			return snk, func(m *message.Message) { m.Body = make([]byte, 8192) }
		},
	}
}

func TestConformance(t *testing.T) { conformance.Run(t, harness()) }
