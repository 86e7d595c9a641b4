//go:build integration

package http

import (
	"testing"

	"github.com/flowrun/flowrun/connectors/conformance"
)

// The connector inside real flowrun processes: the test POSTs into the
// flow's webhook and reads the flow's output on its own webhook. A
// killed or stopping flow answers (or drops) requests, and the test's
// sink sends them again. No broker to restart.
func TestGraphConformance(t *testing.T) {
	conformance.RunGraph(t, harness(), nil)
}
