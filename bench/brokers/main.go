// Command brokers measures the throughput of each broker connector
// (`make bench`, against the services running on this machine), through
// the flowrun runtime in this process:
//
//   - "source -> drop": messages pre-loaded into the broker (the webhook
//     is fed while it reads, by 64 parallel requests) are read by a flow
//     whose sink discards them; the rate counts settled (acked) messages;
//   - "memory -> sink": messages pre-loaded into an in-process memory
//     topic are written by a flow to the broker; the rate counts messages
//     the broker accepted (confirmed, committed).
//
// It also prints the rate of the pre-load itself: the connector's sink
// called directly with writes of 500 messages.
//
//	go run ./bench/brokers [-n 20000] [-only nats,redis]
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/flowrun/flowrun/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	_ "github.com/flowrun/flowrun/connectors/all"
	_ "github.com/flowrun/flowrun/middleware"
	_ "github.com/flowrun/flowrun/stages"
)

func main() {
	n := flag.Int("n", 20000, "messages per measurement")
	only := flag.String("only", "", "comma-separated connectors to measure (default: all)")
	flag.Parse()
	failed := false
	for _, b := range brokers {
		if *only != "" && !strings.Contains(","+*only+",", ","+b.name+",") {
			continue
		}
		if err := measure(b, *n); err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", b.name, err)
			failed = true
		}
	}
	if failed {
		os.Exit(1)
	}
}

func measure(b broker, n int) error {
	src, snk, cleanup, err := b.dest()
	if err != nil {
		return err
	}
	defer cleanup()
	msgs := payments(n)
	var produce func() error
	if b.producerDuringRead {
		produce = func() error { _, err := write(b.name, snk, msgs); return err }
	} else {
		took, err := write(b.name, snk, msgs)
		if err != nil {
			return fmt.Errorf("pre-load: %w", err)
		}
		report(b.name, "sink Write, 500 per call (pre-load)", n, took)
	}
	took, err := runFlow(fmt.Sprintf("bench-%s-source", b.name), map[string]any{b.name: src}, map[string]any{"drop": map[string]any{}}, n, produce)
	if err != nil {
		return fmt.Errorf("source -> drop: %w", err)
	}
	report(b.name, "flow: source -> drop", n, took)

	topic := "bench-mem-" + suffix()
	if _, err := write("memory", map[string]any{"topic": topic}, msgs); err != nil {
		return fmt.Errorf("memory pre-load: %w", err)
	}
	if b.name == "http" { // the sink posts to a server that answers 200
		url, stop, err := okServer()
		if err != nil {
			return err
		}
		defer stop()
		snk = map[string]any{"url": url, "parallel": 64}
	}
	took, err = runFlow(fmt.Sprintf("bench-%s-sink", b.name), map[string]any{"memory": map[string]any{"topic": topic}}, map[string]any{b.name: snk}, n, nil)
	if err != nil {
		return fmt.Errorf("memory -> sink: %w", err)
	}
	report(b.name, "flow: memory -> sink", n, took)
	return nil
}

func report(name, what string, n int, d time.Duration) {
	fmt.Printf("%-9s %-38s %9.0f msgs/s  (%d in %s)\n", name, what, float64(n)/d.Seconds(), n, d.Round(time.Millisecond))
}

// payments are n small JSON payment events (~110 bytes each).
func payments(n int) []*message.Message {
	out := make([]*message.Message, n)
	currencies := []string{"EUR", "USD", "GBP"}
	for i := range out {
		body, _ := json.Marshal(map[string]any{"id": i, "user": fmt.Sprintf("user-%d", i%1000),
			"amount": float64(i%100000) / 100, "currency": currencies[i%3], "country": "FR"})
		out[i] = &message.Message{ID: fmt.Sprintf("p-%d", i), Key: fmt.Sprintf("user-%d", i%1000),
			Meta: map[string]string{"source": "bench"}, Raw: body, Body: body}
	}
	return out
}

// write sends msgs through a connector's sink, 500 per Write.
func write(connector string, raw map[string]any, msgs []*message.Message) (time.Duration, error) {
	spec, _ := registry.LookupConnector(connector)
	cfg, err := conformance.ConfigOf(spec.SinkFields, raw)
	if err != nil {
		return 0, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	snk, err := spec.Sink(ctx, cfg, registry.Env{Flow: "bench", Role: "sink", Logger: quiet()})
	if err != nil {
		return 0, err
	}
	defer snk.Close()
	start := time.Now()
	for i := 0; i < len(msgs); i += 500 {
		if err := snk.Write(ctx, msgs[i:min(i+500, len(msgs))]); err != nil {
			return 0, err
		}
	}
	return time.Since(start), nil
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// runFlow runs a flow in this process until n messages are settled;
// produce, when set, feeds the source meanwhile.
func runFlow(name string, source, sink map[string]any, n int, produce func() error) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "bench-brokers")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	text, err := yaml.Marshal(yamlValue(map[string]any{
		"version": 1, "name": name, "source": source, "sink": sink, "concurrency": 4, "max_demand": 64,
	}))
	if err != nil {
		return 0, err
	}
	path := filepath.Join(dir, "flow.yaml")
	if err := os.WriteFile(path, text, 0o600); err != nil {
		return 0, err
	}
	flow, ds := compiler.CompileFile(path)
	if flow == nil {
		return 0, fmt.Errorf("compile: %v", ds)
	}
	reg := prometheus.NewRegistry()
	p := runtime.New(flow, runtime.Options{Logger: quiet(), Metrics: reg})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := p.Run(ctx)
		done <- err
	}()
	produced := make(chan error, 1)
	if produce != nil {
		go func() { produced <- produce() }()
	}
	// The clock starts at the first settled message: connecting and
	// creating streams, groups or tables is a one-off cost, not throughput.
	deadline := time.After(10 * time.Minute)
	first := 0
	for {
		s := p.Progress()
		settled := int(s.Acked + s.Filtered)
		if first == 0 && settled > 0 {
			first, start = settled, time.Now()
		}
		if settled >= n {
			break
		}
		select {
		case err := <-done:
			return 0, fmt.Errorf("flow stopped after %d messages: %v", settled, err)
		case err := <-produced:
			if err != nil {
				return 0, fmt.Errorf("producer: %w", err)
			}
		case <-deadline:
			return 0, fmt.Errorf("only %d of %d messages settled in 10 minutes", settled, n)
		case <-time.After(5 * time.Millisecond):
		}
	}
	// Scale to n messages: the first ones settled before the clock started.
	took := time.Duration(float64(time.Since(start)) * float64(n) / float64(n-first+1))
	cancel()
	return took, <-done
}

// yamlValue renders durations as a flow file writes them.
func yamlValue(v any) any {
	switch v := v.(type) {
	case time.Duration:
		return v.String()
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = yamlValue(x)
		}
		return out
	}
	return v
}
