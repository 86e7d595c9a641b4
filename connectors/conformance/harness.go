// Package conformance is the one test suite every flowrun connector runs,
// in the spirit of watermill's universal pub/sub tests: a connector
// describes what its broker guarantees (Features) and how to get a fresh,
// empty destination (Harness.Topic), and the suite checks it through the
// registry's Source and Sink interfaces:
//
//   - round trip of many messages written concurrently: payload, key,
//     metadata and id kept, each delivered exactly once, acks stick;
//   - order kept where the broker guarantees it;
//   - nack leads to redelivery of exactly the nacked messages;
//   - demand: with MaxInFlight N and no acks, the source hands out at
//     most N (+ the connector's documented slack), and more once acked;
//   - a crash (the source abandoned without acks) loses nothing: a new
//     source with the same group gets every unacknowledged message;
//   - a write the sink refuses in part returns a registry.WriteError
//     naming just the refused messages, and the retry middleware then
//     writes only those again: each message is delivered exactly once,
//     also inside a flow run by the runtime (the refused ones go to the
//     dead letter);
//   - Write honours a cancelled context; Close stops every goroutine.
//
// RunGraph (graph.go) runs the same connector inside real `flowrun run`
// processes: SIGKILL and restart, broker restarts, SIGTERM drain.
//
// Use it from a connector's test:
//
//	func TestConformance(t *testing.T) {
//		conformance.Run(t, conformance.Harness{
//			Connector: "nats",
//			Features:  conformance.Features{Key: true, Meta: true, ID: true, Order: true, Redelivery: true, Persistent: true},
//			Topic: func(t *testing.T) (src, snk map[string]any) { ... unique names, t.Cleanup to remove them ... },
//		})
//	}
package conformance

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"go.uber.org/goleak"
)

// Features is what a connector's broker guarantees; checks that need a
// guarantee the connector does not claim are skipped with that reason.
type Features struct {
	Key  bool // Message.Key survives sink -> source
	Meta bool // Message.Meta entries survive (the source may add more)
	ID   bool // Message.ID survives
	// Order: messages written one Write after another to one
	// destination are read back in that order (one partition, one queue).
	Order bool
	// Redelivery: a nacked message is delivered again by the same source.
	Redelivery bool
	// Persistent: messages not acknowledged when a source dies are
	// delivered to the next source of the same group.
	Persistent bool
	// DemandSlack is how many messages beyond registry.Env.MaxInFlight the source
	// may hand out unacknowledged (its documented buffer); -1 when the
	// connector cannot bound it, which skips the demand check.
	DemandSlack int
	// Binary: payloads may hold any bytes, not only UTF-8 JSON.
	Binary bool
}

// Harness describes one connector under test.
type Harness struct {
	// Connector is the registered connector name.
	Connector string
	Features  Features
	// Topic returns the source and sink values (as a flow file would
	// give them, before defaults) of a new, empty destination no other
	// test uses, and registers its removal with t.Cleanup. Durations are
	// time.Duration, lists []any.
	Topic func(t *testing.T) (source, sink map[string]any)
	// Wait bounds every wait for messages (default 20s).
	Wait time.Duration
	// Quiet is how long "nothing more arrives" is watched (default 1s).
	Quiet time.Duration
	// Leaks lists goroutines the connector's libraries leave running by
	// design after Close (e.g. a driver's global cleaner).
	Leaks []goleak.Option
	// Refuse is how the partial-failure check makes the sink refuse some
	// messages of a write for good. It gets the source and sink values of
	// a fresh destination (Topic's) and returns the sink values to write
	// with (snk, or others reaching the same destination; it may set source
	// values in src too) and poison,
	// which changes a message in place so that the sink refuses it: larger
	// than the destination takes, unroutable, a value it cannot store.
	// Nil: the sink refuses no message, and the check is skipped.
	Refuse func(t *testing.T, src, snk map[string]any) (sink map[string]any, poison func(*message.Message))
	// Crash abandons a source the way a killed process would (default:
	// Close without acking what is in flight).
	Crash func(registry.Source) error
}

func (h *Harness) defaults() {
	if h.Wait <= 0 {
		h.Wait = 20 * time.Second
	}
	if h.Quiet <= 0 {
		h.Quiet = time.Second
	}
}

// spec looks the connector up, failing the test when it is not registered.
func (h *Harness) spec(t testing.TB) *registry.ConnectorSpec {
	t.Helper()
	s, ok := registry.LookupConnector(h.Connector)
	if !ok {
		t.Fatalf("connector %q is not registered; import its package in the test", h.Connector)
	}
	return s
}

// Config applies the fields' defaults to raw, as the compiler does, and
// rejects unknown names so a typo in a harness cannot go unnoticed.
func Config(t testing.TB, fields []registry.Field, raw map[string]any) registry.Config {
	t.Helper()
	cfg, err := ConfigOf(fields, raw)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// ConfigOf is Config for code without a testing.TB (benchmarks, tools).
func ConfigOf(fields []registry.Field, raw map[string]any) (registry.Config, error) {
	cfg := registry.Config{}
	for k := range raw {
		if !slices.ContainsFunc(fields, func(f registry.Field) bool { return f.Name == k }) {
			return nil, fmt.Errorf("conformance: unknown field %q", k)
		}
	}
	for _, f := range fields {
		v, ok := raw[f.Name]
		switch {
		case ok && f.Type == registry.Object:
			m, isMap := v.(map[string]any)
			if !isMap {
				return nil, fmt.Errorf("conformance: field %q: want map[string]any, got %T", f.Name, v)
			}
			sub, err := ConfigOf(f.Fields, m)
			if err != nil {
				return nil, err
			}
			cfg[f.Name] = sub
		case ok:
			cfg[f.Name] = v
		case f.Default != nil:
			cfg[f.Name] = f.Default
		}
	}
	return cfg, nil
}

// pair is the source and sink configuration of one destination.
type pair struct {
	srcCfg, sinkCfg registry.Config
}

// topic configures a source and a sink on one fresh destination.
func (h *Harness) topic(t *testing.T) pair {
	t.Helper()
	spec := h.spec(t)
	src, snk := h.Topic(t)
	return pair{srcCfg: Config(t, spec.SourceFields, src), sinkCfg: Config(t, spec.SinkFields, snk)}
}

// Env is the environment the suite gives connectors.
func Env(t testing.TB, role string, maxInFlight int) registry.Env {
	return registry.Env{
		Flow: "conformance", Role: role, MaxInFlight: maxInFlight,
		Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn})),
	}
}

// testWriter sends connector logs to the test log (shown on failure or -v).
type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	if os.Getenv("CONFORMANCE_QUIET") == "" {
		w.t.Log(string(p))
	}
	return len(p), nil
}

func (h *Harness) openSource(t *testing.T, cfg registry.Config, maxInFlight int) *source {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), h.Wait)
	defer cancel()
	src, err := h.spec(t).Source(ctx, cfg, Env(t, "source", maxInFlight))
	if err != nil {
		t.Fatalf("open %s source: %v", h.Connector, err)
	}
	return &source{Source: src, t: t}
}

func (h *Harness) openSink(t *testing.T, cfg registry.Config) registry.Sink {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), h.Wait)
	defer cancel()
	snk, err := h.spec(t).Sink(ctx, cfg, Env(t, "sink", 0))
	if err != nil {
		t.Fatalf("open %s sink: %v", h.Connector, err)
	}
	t.Cleanup(func() {
		if err := snk.Close(); err != nil {
			t.Errorf("close %s sink: %v", h.Connector, err)
		}
	})
	return snk
}

// noLeaks checks, when the test ends, that the goroutines started during
// it are gone: Close must stop everything a connector started.
func (h *Harness) noLeaks(t *testing.T) {
	opts := append([]goleak.Option{goleak.IgnoreCurrent()}, h.Leaks...)
	t.Cleanup(func() {
		if err := goleak.Find(opts...); err != nil {
			t.Errorf("%s: goroutines still running after Close: %v", h.Connector, err)
		}
	})
}
