//go:build integration

package conformance_test

import (
	"testing"

	"github.com/flowrun/flowrun/connectors/conformance"
)

// kafka inside real flowrun processes, against the in-process broker of
// this test (which outlives them). The broker cannot be restarted here.
func TestKafkaGraphConformance(t *testing.T) {
	conformance.RunGraph(t, kafkaHarness(t), nil)
}
