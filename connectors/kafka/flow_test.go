package kafka_test

// Flows run in this process (compiler + runtime) against an in-process
// broker: what the connector does inside a real flow, with faults injected.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/connectors/kafka/broker"
	"github.com/flowrun/flowrun/internal/poll"
	_ "github.com/flowrun/flowrun/middleware"
	"github.com/flowrun/flowrun/runtime"
	_ "github.com/flowrun/flowrun/stages"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	_ "github.com/flowrun/flowrun/connectors/kafka"
)

type runningFlow struct {
	reg  *prometheus.Registry
	stop func() runtime.Summary
}

// startFlow compiles yaml (with $BROKER replaced) and runs it until stop.
func startFlow(t *testing.T, addr, yaml string) *runningFlow {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flow.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(yaml, "$BROKER", addr)), 0o600); err != nil {
		t.Fatal(err)
	}
	flow, ds := compiler.CompileFile(path)
	if flow == nil {
		t.Fatalf("compile: %v", ds)
	}
	reg := prometheus.NewRegistry()
	p := runtime.New(flow, runtime.Options{Logger: flowLogger(), Metrics: reg, DrainTimeout: 10 * time.Second})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan runtime.Summary, 1)
	go func() {
		sum, err := p.Run(ctx)
		if err != nil {
			t.Errorf("run: %v", err)
		}
		done <- sum
	}()
	var sum *runtime.Summary
	stop := func() runtime.Summary {
		if sum == nil {
			cancel()
			s := <-done
			sum = &s
		}
		return *sum
	}
	t.Cleanup(func() { stop() })
	return &runningFlow{reg: reg, stop: stop}
}

func startKafka(t *testing.T, opts ...kfake.Opt) *broker.Cluster {
	t.Helper()
	c, err := broker.Start(broker.Options{Addr: "127.0.0.1:0"}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

// metric sums the samples of a metric family whose labels include want.
func metric(t *testing.T, reg *prometheus.Registry, name string, want map[string]string) (sum float64, count uint64) {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() != name {
			continue
		}
		for _, m := range f.GetMetric() {
			if !hasLabels(m, want) {
				continue
			}
			switch {
			case m.Counter != nil:
				sum += m.Counter.GetValue()
			case m.Gauge != nil:
				sum += m.Gauge.GetValue()
			case m.Histogram != nil:
				sum += m.Histogram.GetSampleSum()
				count += m.Histogram.GetSampleCount()
			}
		}
	}
	return sum, count
}

func hasLabels(m *dto.Metric, want map[string]string) bool {
	got := map[string]string{}
	for _, l := range m.GetLabel() {
		got[l.GetName()] = l.GetValue()
	}
	for k, v := range want {
		if got[k] != v {
			return false
		}
	}
	return true
}

// newReader returns a client that consumes topic from its start. A
// reader that lives for one read has no use for fetch sessions, and
// without them Close has none to close (a data race was once reported
// inside franz-go's Close of such a reader).
func newReader(t *testing.T, addr, topic string) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableFetchSessions())
	if err != nil {
		t.Fatal(err)
	}
	return cl
}

// readTopic reads n records of topic from the start.
func readTopic(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl := newReader(t, addr, topic)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("%s: read %d records in a minute, want %d", topic, len(out), n)
		}
		out = append(out, fs.Records()...)
	}
	return out
}

func produceTo(t *testing.T, addr string, recs ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(context.Background(), recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func hdrs(r *kgo.Record) map[string]string {
	out := map[string]string{}
	for _, h := range r.Headers {
		out[h.Key] = string(h.Value)
	}
	return out
}

// Keyed messages with headers through filter, set and key stages: the
// output topic holds exactly the expected messages, keys and headers.
func TestFlowRoundTrip(t *testing.T) {
	b := startKafka(t, kfake.SeedTopics(2, "orders"), kfake.SeedTopics(2, "orders.big"))
	var in []*kgo.Record
	for i := range 40 {
		in = append(in, &kgo.Record{Topic: "orders", Key: fmt.Appendf(nil, "user-%d", i%5),
			Value:   fmt.Appendf(nil, `{"id":%d,"amount":%d}`, i, i*10),
			Headers: []kgo.RecordHeader{{Key: "source", Value: []byte("shop")}, {Key: wkafka.UUIDHeaderKey, Value: fmt.Appendf(nil, "uuid-%d", i)}}})
	}
	produceTo(t, b.Addr(), in...)
	f := startFlow(t, b.Addr(), `
version: 1
name: big-orders
source:
  kafka: {brokers: ["$BROKER"], topic: orders, group: big-orders}
concurrency: 4
stages:
  - filter: payload.amount >= 200
  - set: {cents: int(payload.amount * 100)}
  - meta: {checked: '"yes"'}
  - key: '"order-" + string(payload.id)'
sink:
  kafka: {brokers: ["$BROKER"], topic: orders.big}
`)
	out := readTopic(t, b.Addr(), "orders.big", 20)
	poll.Until(t, "every message settled", 10*time.Second, func() bool {
		acked, _ := metric(t, f.reg, "flowrun_messages_total", map[string]string{"outcome": "acked"})
		filtered, _ := metric(t, f.reg, "flowrun_messages_total", map[string]string{"outcome": "filtered"})
		return acked == 20 && filtered == 20
	})
	sum := f.stop()
	if sum.In != 40 || sum.Acked != 20 || sum.Filtered != 20 {
		t.Fatalf("summary %+v, want 40 in, 20 acked, 20 filtered", sum)
	}
	sort.Slice(out, func(i, j int) bool { return string(out[i].Key) < string(out[j].Key) })
	for i, r := range out {
		id := 20 + i
		if string(r.Key) != fmt.Sprintf("order-%d", id) {
			t.Fatalf("record %d has key %q", i, r.Key)
		}
		// set keeps the fields as they came and adds cents after them.
		if want := fmt.Sprintf(`{"id":%d,"amount":%d,"cents":%d}`, id, id*10, id*1000); string(r.Value) != want {
			t.Errorf("order %d: value %s, want %s", id, r.Value, want)
		}
		if want := map[string]string{"source": "shop", "checked": "yes", wkafka.UUIDHeaderKey: fmt.Sprintf("uuid-%d", id)}; !maps.Equal(hdrs(r), want) {
			t.Errorf("order %d: headers %v, want %v", id, hdrs(r), want)
		}
	}
}

// With concurrency 8 and batches of 100 on a 2-partition topic, batches
// fill up (watermill-kafka's one-per-partition subscriber caps them at 2).
func TestFlowBatchesFill(t *testing.T) {
	b := startKafka(t, kfake.SeedTopics(2, "events"), kfake.SeedTopics(1, "events.out"))
	var in []*kgo.Record
	for i := range 2000 {
		in = append(in, &kgo.Record{Topic: "events", Value: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	produceTo(t, b.Addr(), in...)
	f := startFlow(t, b.Addr(), `
version: 1
name: batches
source:
  kafka: {brokers: ["$BROKER"], topic: events, group: batches}
concurrency: 8
stages:
  - batch: {size: 100, timeout: 20s}
sink:
  kafka: {brokers: ["$BROKER"], topic: events.out}
`)
	readTopic(t, b.Addr(), "events.out", 2000)
	sum, count := metric(t, f.reg, "flowrun_batch_size", nil)
	if count != 20 || sum != 2000 {
		t.Fatalf("%v messages in %d batches, want 20 full batches of 100", sum, count)
	}
}

// The sink's topic refuses produce requests for a while: the write is
// retried, the source stops reading ahead (backpressure), and once the
// broker recovers every message arrives.
func TestFlowSinkOutageRecovers(t *testing.T) {
	b := startKafka(t, kfake.SeedTopics(2, "in"), kfake.SeedTopics(1, "out"))
	fault := b.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "out", Err: kerr.NotEnoughReplicas, Count: -1})
	var in []*kgo.Record
	for i := range 500 {
		in = append(in, &kgo.Record{Topic: "in", Value: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	produceTo(t, b.Addr(), in...)
	f := startFlow(t, b.Addr(), `
version: 1
name: outage
source:
  kafka: {brokers: ["$BROKER"], topic: in, group: outage, redelivery_delay: 50ms}
concurrency: 2
max_demand: 10
middleware:
  - retry: {max_retries: 1000, initial_interval: 20ms, max_interval: 100ms}
sink:
  kafka: {brokers: ["$BROKER"], topic: out, retries: 1, retry_backoff: 10ms}
`)
	poll.Until(t, "failed writes", 10*time.Second, func() bool { return fault.Hits() > 10 })
	// Nothing is acked while the sink fails, and the flow holds a bounded
	// number of messages: the source is not drained into memory.
	read, _ := metric(t, f.reg, "flowrun_messages_total", nil)
	if read != 0 {
		t.Fatalf("%v messages settled while the sink was failing", read)
	}
	lag, _ := metric(t, f.reg, "flowrun_source_lag", map[string]string{"flow": "outage"})
	if lag != 500 {
		t.Fatalf("lag %v during the outage, want all 500 messages uncommitted", lag)
	}
	fault.Remove()
	// Retried writes may duplicate messages (at least once): read until
	// every distinct message has arrived.
	seen := map[string]bool{}
	for n := 500; len(seen) < 500; n += 500 - len(seen) {
		seen = map[string]bool{}
		for _, r := range readTopic(t, b.Addr(), "out", n) {
			seen[string(r.Value)] = true
		}
	}
	poll.Until(t, "lag back to 0", 10*time.Second, func() bool {
		lag, _ := metric(t, f.reg, "flowrun_source_lag", map[string]string{"flow": "outage"})
		return lag == 0
	})
}

// A message the sink can never write (too large for the output topic)
// goes to the dead letter topic with its original bytes and the error;
// the others flow on, and all are acked.
func TestFlowPermanentFailureGoesToDeadLetter(t *testing.T) {
	b := startKafka(t, kfake.SeedTopics(1, "in"), kfake.SeedTopics(1, "dlq"))
	createTopic(t, b.Addr(), "out", map[string]string{"max.message.bytes": "1000"})
	big := `{"blob":"` + strings.Repeat("x", 2000) + `"}`
	produceTo(t, b.Addr(),
		&kgo.Record{Topic: "in", Value: []byte(`{"n":1}`)},
		&kgo.Record{Topic: "in", Key: []byte("k"), Value: []byte(big), Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t1")}}},
		&kgo.Record{Topic: "in", Value: []byte(`{"n":3}`)},
	)
	f := startFlow(t, b.Addr(), `
version: 1
name: dead
source:
  kafka: {brokers: ["$BROKER"], topic: in, group: dead}
concurrency: 1
max_demand: 1
middleware:
  - retry: {max_retries: 2, initial_interval: 10ms, max_interval: 20ms}
sink:
  kafka: {brokers: ["$BROKER"], topic: out}
dead_letter:
  kafka: {brokers: ["$BROKER"], topic: dlq}
`)
	// A write is all or nothing: a good message written in the same call
	// as the big one may be written again by the retries, or dead-lettered
	// with it. Each good message is in out or in the dead letter topic;
	// the big one is dead-lettered, bytes and key intact, with the error.
	poll.Until(t, "every message settled", 10*time.Second, func() bool {
		acked, _ := metric(t, f.reg, "flowrun_messages_total", map[string]string{"outcome": "acked"})
		dl, _ := metric(t, f.reg, "flowrun_messages_total", map[string]string{"outcome": "dead_lettered"})
		return acked+dl == 3 && dl >= 1
	})
	somewhere := map[string]bool{}
	for _, r := range readAll(t, b.Addr(), "out") {
		if string(r.Value) == big {
			t.Fatal("the big message was written to out")
		}
		somewhere[string(r.Value)] = true
	}
	var found bool
	for _, dead := range readAll(t, b.Addr(), "dlq") {
		somewhere[string(dead.Value)] = true
		h := hdrs(dead)
		if h["flow"] != "dead" || h["error_stage"] == "" || !strings.Contains(h["error"], "too large") {
			t.Errorf("dead letter %.20s: headers %v", dead.Value, h)
		}
		if string(dead.Value) == big {
			found = true
			if string(dead.Key) != "k" || h["trace"] != "t1" {
				t.Errorf("dead letter of the big message: key %q headers %v", dead.Key, h)
			}
		}
	}
	if !found || !somewhere[`{"n":1}`] || !somewhere[`{"n":3}`] {
		t.Fatalf("big dead-lettered: %v; delivered somewhere: %v", found, somewhere)
	}
}

// readAll reads a topic up to its current end.
func readAll(t *testing.T, addr, topic string) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	ends, err := kadm.NewClient(cl).ListEndOffsets(context.Background(), topic)
	cl.Close()
	if err != nil {
		t.Fatal(err)
	}
	total := 0
	ends.Each(func(o kadm.ListedOffset) {
		if o.Err == nil && o.Offset > 0 {
			total += int(o.Offset)
		}
	})
	return readTopic(t, addr, topic, total)
}

func createTopic(t *testing.T, addr, topic string, configs map[string]string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 1, 1
	for k, v := range configs {
		c := kmsg.NewCreateTopicsRequestTopicConfig()
		c.Name, c.Value = k, kmsg.StringPtr(v)
		rt.Configs = append(rt.Configs, c)
	}
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(context.Background(), cl)
	if err == nil {
		err = kerr.ErrorForCode(resp.Topics[0].ErrorCode)
	}
	if err != nil {
		t.Fatalf("create topic %s: %v", topic, err)
	}
}

func flowLogger() *slog.Logger {
	if os.Getenv("KAFKA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// One malformed message and no dead letter: it cannot succeed on
// redelivery, so it is discarded (counted as lost) and the partition
// moves on, instead of being redelivered forever with the lag growing.
func TestFlowPoisonMessageWithoutDeadLetterDoesNotStallThePartition(t *testing.T) {
	b := startKafka(t, kfake.SeedTopics(1, "in"), kfake.SeedTopics(1, "out"))
	produceTo(t, b.Addr(),
		&kgo.Record{Topic: "in", Value: []byte(`{"n":1}`)},
		&kgo.Record{Topic: "in", Value: []byte(`not json`)},
		&kgo.Record{Topic: "in", Value: []byte(`{"n":3}`)},
	)
	f := startFlow(t, b.Addr(), `
version: 1
name: poison
source:
  kafka: {brokers: ["$BROKER"], topic: in, group: poison, redelivery_delay: 10ms}
stages:
  - map: payload.n + 1
sink:
  kafka: {brokers: ["$BROKER"], topic: out}
`)
	poll.Until(t, "every message settled and the lag back to 0", 20*time.Second, func() bool {
		settled, _ := metric(t, f.reg, "flowrun_messages_total", map[string]string{"flow": "poison"})
		lag, _ := metric(t, f.reg, "flowrun_source_lag", map[string]string{"flow": "poison"})
		return settled == 3 && lag == 0
	})
	var got []string
	for _, r := range readTopic(t, b.Addr(), "out", 2) {
		got = append(got, string(r.Value))
	}
	sort.Strings(got)
	if strings.Join(got, ",") != "2,4" {
		t.Fatalf("out = %v", got)
	}
	sum := f.stop()
	redelivered, _ := metric(t, f.reg, "flowrun_source_redeliveries_total", nil)
	if sum.Discarded != 1 || sum.Lost != 1 || sum.Nacked != 0 || redelivered != 0 {
		t.Fatalf("summary %+v, redeliveries %v", sum, redelivered)
	}
}
