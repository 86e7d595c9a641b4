// Package drop is the `drop` sink: it accepts every message and discards
// it, so a flow can be run for its side effects, its logs or a benchmark.
// It counts nothing itself; the runtime's metrics already do.
package drop

import (
	"context"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func init() {
	registry.RegisterConnector(&registry.ConnectorSpec{
		Name:    "drop",
		Summary: "accepts and discards every message (benchmarks, flows run for their side effects)",
		Sink: func(context.Context, registry.Config, registry.Env) (registry.Sink, error) {
			return sink{}, nil
		},
	})
}

type sink struct{}

// Write accepts msgs at once.
func (sink) Write(context.Context, []*message.Message) error { return nil }

func (sink) Close() error { return nil }
