// Command kafka is the Kafka workload of `make bench`: it pre-loads
// messages into an 8-partition topic of the in-process broker, then
// measures, in the same run and against the same broker,
//
//   - the ceiling: a bare franz-go loop that consumes every message and
//     produces it to another topic, waiting for the broker's acks;
//   - the same loop doing W2's work in plain Go (encoding/json);
//   - Sarama, the client the connector is built on (watermill-kafka's),
//     consuming only, then consuming and producing every message: what
//     any Sarama program can reach here;
//   - flows W1 (passthrough) and W2 (filter then map), kafka source to
//     kafka sink, run by the flowrun runtime until every input message is
//     acked or filtered, with how many cores the process kept busy;
//   - the same flows with the sink's idempotent: true (Sarama's
//     idempotent producer instead of the sink's own batch writer), run
//     right after each, so the ratio compares them in the same window.
//
// It prints msgs/s for each and their ratios. Figures depend on the
// machine; the broker (kfake) runs in the same process and competes for
// the same CPUs, so every number is lower than against a real cluster.
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	goruntime "runtime"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/connectors/kafka/broker"
	"github.com/flowrun/flowrun/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	_ "github.com/flowrun/flowrun/connectors/kafka"
	_ "github.com/flowrun/flowrun/middleware"
	_ "github.com/flowrun/flowrun/stages"
)

const partitions = 8

var profile string // -cpuprofile

// w2 is flow W2: keep large EUR payments and reshape them.
const w2 = `version: 1
name: w2-kafka
source:
  kafka: {brokers: ["%s"], topic: payments, group: w2-bench-%d}
concurrency: %d
max_demand: %d
stages:
  - filter: payload.amount > 500 && payload.currency == "EUR"
  - map: '{"id": payload.id, "user": payload.user, "amount_cents": payload.amount*100, "big": payload.amount > 5000}'
sink:
  kafka: {brokers: ["%s"], topic: w2.out}
`

// w1 is flow W1: every message passed through untouched.
const w1 = `version: 1
name: w1-kafka
source:
  kafka: {brokers: ["%s"], topic: payments, group: w1-bench-%d}
concurrency: %d
max_demand: %d
sink:
  kafka: {brokers: ["%s"], topic: w1.out}
`

func main() {
	messages := flag.Int("messages", 1_000_000, "messages to pre-load and process")
	concurrency := flag.Int("concurrency", 4, "the flow's concurrency")
	maxDemand := flag.Int("max-demand", 500, "the flow's max_demand")
	rounds := flag.Int("rounds", 3, "rounds of every measure; the medians are reported (one run swings by 2x on a shared machine)")
	only := flag.String("only", "", "comma-separated measures to run (default all): "+strings.Join(measureNames, ","))
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of flow W2 to this file (of its last round)")
	flag.Parse()
	profile = *cpuProfile
	if err := bench(*messages, *concurrency, *maxDemand, *rounds, *only); err != nil {
		fmt.Fprintln(os.Stderr, "bench/kafka:", err)
		os.Exit(1)
	}
}

// measureNames are the measures, in the order each round runs them.
var measureNames = []string{"ceiling", "w2loop", "sarama-read", "sarama", "w1", "w1idem", "w2", "w2idem"}

var measureTitles = map[string]string{
	"ceiling":     "franz-go consume-then-produce (ceiling)",
	"w2loop":      "franz-go consume, W2 in Go, produce (same work, no graph)",
	"sarama-read": "Sarama consume only (the connector's client)",
	"sarama":      "Sarama consume-then-produce",
	"w1":          "flowrun flow W1 passthrough",
	"w2":          "flowrun flow W2",
	"w1idem":      "flowrun flow W1, idempotent sink",
	"w2idem":      "flowrun flow W2, idempotent sink",
}

// idempotentSink turns a flow's sink into an idempotent one writing to
// topic.
func idempotentSink(flow, from, topic string) string {
	return strings.Replace(flow, "topic: "+from+"}", "topic: "+topic+", idempotent: true}", 1)
}

func bench(n, concurrency, maxDemand, rounds int, only string) error {
	selected := measureNames
	if only != "" {
		selected = strings.Split(only, ",")
		for _, name := range selected {
			if measureTitles[name] == "" {
				return fmt.Errorf("-only: unknown measure %q (known: %s)", name, strings.Join(measureNames, ","))
			}
		}
	}
	b, err := broker.Start(broker.Options{Addr: "127.0.0.1:0"},
		kfake.SeedTopics(partitions, "payments", "ceiling.out", "ceilingw2.out", "sarama.out", "w1.out", "w2.out", "w1idem.out", "w2idem.out"))
	if err != nil {
		return err
	}
	defer b.Close()
	addr := b.Addr()

	start := time.Now()
	if err := preload(addr, n); err != nil {
		return fmt.Errorf("pre-load: %w", err)
	}
	fmt.Printf("kafka: pre-loaded %d messages into %d partitions in %s; %d round(s), %d CPUs, %s\n",
		n, partitions, time.Since(start).Round(time.Millisecond), rounds, goruntime.NumCPU(), goruntime.Version())

	measure := func(name string, round int) (time.Duration, error) {
		switch name {
		case "ceiling":
			return bareLoop(addr, n)
		case "w2loop":
			return bareW2Loop(addr, n)
		case "sarama-read":
			return saramaLoop(addr, n, false)
		case "sarama":
			return saramaLoop(addr, n, true)
		case "w1":
			// A new group each round: the last one committed the whole topic.
			return runFlow(addr, n, fmt.Sprintf(w1, addr, round, concurrency, maxDemand, addr), "")
		case "w1idem":
			return runFlow(addr, n, idempotentSink(fmt.Sprintf(w1, addr, 1000+round, concurrency, maxDemand, addr), "w1.out", "w1idem.out"), "")
		case "w2idem":
			return runFlow(addr, n, idempotentSink(fmt.Sprintf(w2, addr, 1000+round, concurrency, maxDemand, addr), "w2.out", "w2idem.out"), "")
		}
		return runFlow(addr, n, fmt.Sprintf(w2, addr, round, concurrency, maxDemand, addr), profile)
	}
	// outputs is where each measure writes; a measure's output topic is
	// emptied after it, so every measure of every round meets a broker
	// holding the same data (kfake slows as it holds more).
	outputs := map[string]string{"ceiling": "ceiling.out", "w2loop": "ceilingw2.out", "sarama": "sarama.out", "w1": "w1.out", "w2": "w2.out",
		"w1idem": "w1idem.out", "w2idem": "w2idem.out"}
	took := map[string][]time.Duration{}
	var ratios []float64 // flow W2 / ceiling within each round
	for round := range rounds {
		for _, name := range selected {
			d, err := measure(name, round)
			if err != nil {
				return fmt.Errorf("%s: %w", measureTitles[name], err)
			}
			took[name] = append(took[name], d)
			report(fmt.Sprintf("round %d: %s", round+1, measureTitles[name]), n, d)
			if topic := outputs[name]; topic != "" {
				if err := recreateTopic(addr, topic); err != nil {
					return fmt.Errorf("emptying %s: %w", topic, err)
				}
			}
		}
		if w2, c := took["w2"], took["ceiling"]; len(w2) > round && len(c) > round {
			ratios = append(ratios, c[round].Seconds()/w2[round].Seconds())
		}
	}
	fmt.Printf("kafka: medians of %d round(s), flows at concurrency %d, max_demand %d:\n", rounds, concurrency, maxDemand)
	med := map[string]time.Duration{}
	for _, name := range selected {
		med[name] = median(took[name])
		report(measureTitles[name], n, med[name])
	}
	ratio := func(what, num, den string) {
		if med[num] > 0 && med[den] > 0 {
			fmt.Printf("kafka: %-45s %.2f\n", what, med[den].Seconds()/med[num].Seconds())
		}
	}
	ratio("flow W2 / ceiling (medians)", "w2", "ceiling")
	if len(ratios) > 0 {
		fmt.Printf("kafka: %-45s %s\n", "flow W2 / ceiling, each round", formatRatios(ratios))
	}
	ratio("flow W2 / same-work loop", "w2", "w2loop")
	ratio("Sarama consume only / ceiling", "sarama-read", "ceiling")
	ratio("Sarama loop / ceiling", "sarama", "ceiling")
	ratio("flow W1 / ceiling", "w1", "ceiling")
	ratio("flow W1 / Sarama loop", "w1", "sarama")
	ratio("flow W1 idempotent / W1", "w1idem", "w1")
	ratio("flow W2 idempotent / W2", "w2idem", "w2")
	return nil
}

// recreateTopic deletes topic and creates it again, empty, with the
// same partitions.
func recreateTopic(addr, topic string) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	del := kmsg.NewPtrDeleteTopicsRequest()
	del.TopicNames = []string{topic}
	dt := kmsg.NewDeleteTopicsRequestTopic()
	dt.Topic = kmsg.StringPtr(topic)
	del.Topics = append(del.Topics, dt)
	dresp, err := del.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	for _, t := range dresp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return fmt.Errorf("delete: %w", err)
		}
	}
	create := kmsg.NewPtrCreateTopicsRequest()
	ct := kmsg.NewCreateTopicsRequestTopic()
	ct.Topic, ct.NumPartitions, ct.ReplicationFactor = topic, partitions, 1
	create.Topics = append(create.Topics, ct)
	cresp, err := create.RequestWith(ctx, cl)
	if err != nil {
		return err
	}
	for _, t := range cresp.Topics {
		if err := kerr.ErrorForCode(t.ErrorCode); err != nil {
			return fmt.Errorf("create: %w", err)
		}
	}
	return nil
}

func median(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

func formatRatios(rs []float64) string {
	parts := make([]string, len(rs))
	for i, r := range rs {
		parts[i] = fmt.Sprintf("%.2f", r)
	}
	return strings.Join(parts, " ")
}

func report(what string, n int, d time.Duration) {
	fmt.Printf("kafka: %-66s %10.0f msgs/s  (%d in %s)\n", what, float64(n)/d.Seconds(), n, d.Round(time.Millisecond))
}

type payment struct {
	ID       int     `json:"id"`
	User     string  `json:"user"`
	Amount   float64 `json:"amount"`
	Currency string  `json:"currency"`
}

func preload(addr string, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("payments"), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	currencies := []string{"EUR", "USD", "GBP"}
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for i := range n {
		body, _ := json.Marshal(payment{ID: i, User: fmt.Sprintf("user-%d", i%1000),
			Amount: float64(rng.IntN(1_000_000)) / 100, Currency: currencies[rng.IntN(len(currencies))]})
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Key: fmt.Appendf(nil, "user-%d", i%1000), Value: body},
			func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
				wg.Done()
			})
	}
	wg.Wait()
	return firstErr
}

// bareLoop consumes every message and produces a copy, as fast as
// franz-go goes: the most any consume-then-produce program can do here.
func bareLoop(addr string, n int) (time.Duration, error) {
	return franzLoop(addr, n, "ceiling.out", func(v []byte) ([]byte, bool) { return v, true })
}

// bareW2Loop is bareLoop doing W2's work in plain Go on one goroutine:
// decode (encoding/json into map[string]any), filter, map, encode, produce
// the matches. It tells how much of the gap to the ceiling is the work itself.
func bareW2Loop(addr string, n int) (time.Duration, error) {
	return franzLoop(addr, n, "ceilingw2.out", func(v []byte) ([]byte, bool) {
		var p map[string]any
		if json.Unmarshal(v, &p) != nil {
			return nil, false
		}
		amount, _ := p["amount"].(float64)
		if amount <= 500 || p["currency"] != "EUR" {
			return nil, false
		}
		out, _ := json.Marshal(map[string]any{"id": p["id"], "user": p["user"], "amount_cents": amount * 100, "big": amount > 5000})
		return out, true
	})
}

// franzLoop consumes n messages of payments and produces what transform
// keeps to topic, waiting for every produce.
func franzLoop(addr string, n int, topic string, transform func([]byte) ([]byte, bool)) (time.Duration, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("payments"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DefaultProduceTopic(topic))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	start := time.Now()
	for consumed := 0; consumed < n; {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return 0, err
		}
		fs.EachRecord(func(r *kgo.Record) {
			consumed++
			out, keep := transform(r.Value)
			if !keep {
				return
			}
			wg.Add(1)
			cl.Produce(ctx, &kgo.Record{Key: r.Key, Value: out, Headers: r.Headers}, func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
				wg.Done()
			})
		})
	}
	wg.Wait()
	return time.Since(start), firstErr
}

// runFlow runs a flow file in this process until every message is settled.
func runFlow(addr string, n int, flowFile, cpuProfile string) (time.Duration, error) {
	dir, err := os.MkdirTemp("", "bench-kafka")
	if err != nil {
		return 0, err
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "flow.yaml")
	if err := os.WriteFile(path, []byte(flowFile), 0o600); err != nil {
		return 0, err
	}
	flow, ds := compiler.CompileFile(path)
	if flow == nil {
		return 0, fmt.Errorf("compile: %v", ds)
	}
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.NewTextHandler(io.Discard, nil))
	p := runtime.New(flow, runtime.Options{Logger: logger, Metrics: reg})
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if cpuProfile != "" {
		f, err := os.Create(cpuProfile)
		if err != nil {
			return 0, err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return 0, err
		}
		defer pprof.StopCPUProfile()
	}
	done := make(chan error, 1)
	start := time.Now()
	go func() {
		_, err := p.Run(ctx)
		done <- err
	}()
	// The clock starts at the first settled message: joining the consumer
	// group is a one-off cost of a few seconds, not throughput.
	deadline := time.After(10 * time.Minute)
	first := 0
	var cpuStart time.Duration
	for {
		s := p.Progress()
		settled := int(s.Acked + s.Filtered)
		if first == 0 && settled > 0 {
			first, start, cpuStart = settled, time.Now(), cpuTime()
		}
		if settled >= n {
			break
		}
		select {
		case err := <-done:
			return 0, fmt.Errorf("flow stopped after %d messages: %v", settled, err)
		case <-deadline:
			return 0, fmt.Errorf("only %d of %d messages settled in 10 minutes", settled, n)
		case <-time.After(10 * time.Millisecond):
		}
	}
	// Scale to n messages: the first ones settled before the clock started.
	wall := time.Since(start)
	fmt.Printf("kafka: (the process, broker included, kept %.2f cores busy while the flow ran)\n", float64(cpuTime()-cpuStart)/float64(wall))
	elapsed := time.Duration(float64(wall) * float64(n) / float64(n-first+1))
	cancel()
	return elapsed, <-done
}

// cpuTime is the CPU time this process has used: it tells whether a run
// was bound by the machine's cores or by waiting.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
