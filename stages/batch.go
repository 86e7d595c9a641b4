package stages

import (
	"time"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/registry"
)

func init() {
	registry.RegisterStage(&registry.StageSpec{
		Name: "batch",
		Summary: "Groups messages, per key value, until size or timeout. Without reduce the sink receives the batch " +
			"in one write; with reduce the batch becomes one message. Must be the last stage.",
		Example: "batch: {size: 1000, timeout: 1s, key: payload.country, reduce: '{\"country\": batch_key, \"count\": len(batch)}'}",
		Value: registry.Field{Type: registry.Object, Fields: []registry.Field{
			{Name: "size", Type: registry.Int, Default: 100, Min: registry.F(1), Doc: "flush when a batch holds this many messages"},
			{Name: "timeout", Type: registry.Duration, Default: time.Second, Min: registry.F(0.001), Doc: "flush a batch this long after its first message"},
			{Name: "key", Type: registry.Expr, Scope: expression.MessageScope, Doc: "batches are kept per value of this expression"},
			{Name: "reduce", Type: registry.Expr, Scope: expression.ReduceScope, Doc: "turns the batch into one message; batch (the payloads) and batch_key are in scope"},
			{Name: "max_buffered", Type: registry.Int, Default: 10000, Min: registry.F(1),
				Doc: "most messages held across all open batches (many keys); when reached, the oldest batch is flushed early, so memory stays bounded"},
		}},
		// The runtime's batchers are one node after every step.
		Terminal: "it hands whole batches to the sink",
		Unique:   true,
		Build: func(_ *registry.Build, v any) (registry.Built, error) {
			c := v.(registry.Config)
			return registry.Built{Batch: &registry.BatchPlan{Size: c.Int("size"), Timeout: c.Duration("timeout"), Key: c.Expr("key"),
				Reduce: c.Expr("reduce"), MaxBuffered: max(c.Int("max_buffered"), c.Int("size"))}}, nil
		},
	})
}
