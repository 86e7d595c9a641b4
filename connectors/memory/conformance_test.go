package memory_test

import (
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"

	"github.com/flowrun/flowrun/connectors/conformance"
)

// The shared suite. Order is not claimed (GoChannel sends each message
// from its own goroutine) and neither is Persistent in the suite's sense:
// a new source gets every message of the topic again, acked ones too.
func TestConformance(t *testing.T) {
	conformance.Run(t, conformance.Harness{
		Connector: "memory",
		Features:  conformance.Features{Key: true, Meta: true, ID: true, Redelivery: true, DemandSlack: 0, Binary: true},
		Quiet:     300 * time.Millisecond, // in-process: nothing is late by more than that
		Topic: func(*testing.T) (src, snk map[string]any) {
			topic := "conformance-" + watermill.NewShortUUID()
			return map[string]any{"topic": topic, "redelivery_delay": time.Duration(0)}, map[string]any{"topic": topic}
		},
	})
}
