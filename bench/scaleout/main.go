// Command scaleout measures flowrun scaling out on Kafka: N replicas of
// one flow in one consumer group on an 8-partition topic of the
// in-process broker, each throttled to a fixed rate (as if each replica
// were a pod whose CPU gives that rate), so the group's throughput must
// grow with N up to the partition count whatever this machine's cores.
// Then it stops one of 4 replicas mid-stream and reports how long until
// its partitions are owned by the others, and what the output topic holds:
// every input id must be there (nothing missing); a duplicate is a message
// processed again after the move (at-least-once).
//
// Replicas are flowrun pipelines in this process, each with its own Kafka
// clients and metrics registry, exactly as separate pods would run.
//
//	go run ./bench/scaleout
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/connectors/kafka/broker"
	"github.com/flowrun/flowrun/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kfake"

	_ "github.com/flowrun/flowrun/connectors/kafka"
	_ "github.com/flowrun/flowrun/middleware"
	_ "github.com/flowrun/flowrun/stages"
)

const partitions = 8

// flowFile is one replica: passthrough, throttled, kafka to kafka.
const flowFile = `version: 1
name: scaleout
source:
  kafka: {brokers: ["%s"], topic: input, group: %s}
middleware:
  - throttle: {per_second: %g}
sink:
  kafka: {brokers: ["%s"], topic: %s}
`

func main() {
	rate := flag.Float64("rate", 500, "messages per second each replica is throttled to")
	window := flag.Duration("window", 10*time.Second, "how long throughput is measured once every replica reads")
	failover := flag.Int("failover-messages", 30_000, "messages of the fail-over run")
	flag.Parse()
	if err := run(*rate, *window, *failover); err != nil {
		fmt.Fprintln(os.Stderr, "bench/scaleout:", err)
		os.Exit(1)
	}
}

func run(rate float64, window time.Duration, failoverN int) error {
	b, err := broker.Start(broker.Options{Addr: "127.0.0.1:0"}, kfake.SeedTopics(partitions, "input"))
	if err != nil {
		return err
	}
	defer b.Close()
	addr := b.Addr()
	// Enough for the largest group at full rate for the window, plus joining.
	n := max(failoverN, int(rate*partitions*(window.Seconds()+20)))
	if err := preload(addr, n); err != nil {
		return fmt.Errorf("pre-load: %w", err)
	}
	fmt.Printf("scaleout: %d messages in %d partitions; each replica throttled to %g msgs/s; window %s\n", n, partitions, rate, window)

	for _, replicas := range []int{1, 2, 4, 8} {
		got, err := throughput(addr, replicas, rate, window)
		if err != nil {
			return fmt.Errorf("%d replicas: %w", replicas, err)
		}
		fmt.Printf("scaleout: %d replica(s): %8.0f msgs/s  (%.2fx one replica's rate; ideal %dx)\n",
			replicas, got, got/rate, min(replicas, partitions))
	}
	for _, mode := range []killMode{drainKill, abruptKill} {
		if err := failoverRun(addr, 4, rate, failoverN, mode); err != nil {
			return fmt.Errorf("fail-over (%s): %w", mode, err)
		}
	}
	return nil
}

// replica is one running flow.
type replica struct {
	p      *runtime.Pipeline
	reg    *prometheus.Registry
	cancel context.CancelFunc
	done   chan error
}

// startReplica compiles the flow for group and output and runs it.
func startReplica(addr, group, output string, rate float64, drain time.Duration) (*replica, error) {
	dir, err := os.MkdirTemp("", "bench-scaleout")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "flow.yaml")
	if err := os.WriteFile(path, fmt.Appendf(nil, flowFile, addr, group, rate, addr, output), 0o600); err != nil {
		return nil, err
	}
	flow, ds := compiler.CompileFile(path)
	if flow == nil {
		return nil, fmt.Errorf("compile: %v", ds)
	}
	r := &replica{reg: prometheus.NewRegistry(), done: make(chan error, 1)}
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	r.p = runtime.New(flow, runtime.Options{Logger: logger, Metrics: r.reg, DrainTimeout: drain})
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() { // owned: ends when stop cancels ctx and the drain ends
		_, err := r.p.Run(ctx)
		r.done <- err
	}()
	return r, nil
}

// stop is SIGTERM: drain within the drain timeout, then return.
func (r *replica) stop() error {
	r.cancel()
	return <-r.done
}

func (r *replica) settled() int64 { return r.p.Progress().Settled() }

// owned is the partitions this replica reads now: those it exports
// flowrun_source_lag for.
func (r *replica) owned() []string {
	mfs, _ := r.reg.Gather()
	var out []string
	for _, mf := range mfs {
		if mf.GetName() != "flowrun_source_lag" {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if l.GetName() == "partition" {
					out = append(out, l.GetValue())
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func stopAll(rs []*replica) error {
	var errs []string
	for _, r := range rs {
		if err := r.stop(); err != nil {
			errs = append(errs, err.Error())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("%s", strings.Join(errs, "; "))
	}
	return nil
}

// throughput starts replicas in a new group, waits until each has settled
// a message (the group has balanced and every one reads), then counts
// what the group settles in window.
func throughput(addr string, replicas int, rate float64, window time.Duration) (float64, error) {
	group := fmt.Sprintf("scale-%d", replicas)
	var rs []*replica
	for range replicas {
		r, err := startReplica(addr, group, group+".out", rate, 30*time.Second)
		if err != nil {
			_ = stopAll(rs)
			return 0, err
		}
		rs = append(rs, r)
	}
	defer stopAll(rs)
	deadline := time.Now().Add(2 * time.Minute)
	for !allReading(rs, replicas) {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("the group did not balance in 2 minutes")
		}
		time.Sleep(50 * time.Millisecond)
	}
	before, start := total(rs), time.Now()
	time.Sleep(window)
	return float64(total(rs)-before) / time.Since(start).Seconds(), nil
}

// allReading: every replica that can own a partition has settled a
// message since its current assignment.
func allReading(rs []*replica, replicas int) bool {
	reading, owned := 0, map[string]bool{}
	for _, r := range rs {
		ps := r.owned()
		if r.settled() > 0 && len(ps) > 0 {
			reading++
		}
		for _, p := range ps {
			owned[p] = true
		}
	}
	return reading == min(replicas, partitions) && len(owned) == partitions
}

func total(rs []*replica) int64 {
	var n int64
	for _, r := range rs {
		n += r.settled()
	}
	return n
}
