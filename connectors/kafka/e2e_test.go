package kafka_test

// End-to-end: the flowrun binary (built in TestMain) runs flows against a
// broker in this process or against `flowrun broker`, and is stopped with
// SIGTERM or killed with SIGKILL.

import (
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/flowrun/flowrun/internal/poll"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Keyed messages with headers in; after a SIGTERM (exit 0) the output
// topic holds exactly the expected messages, keys and headers.
func TestE2ERoundTrip(t *testing.T) {
	b := startKafka(t, kfake.SeedTopics(3, "payments"), kfake.SeedTopics(3, "payments.large"))
	var in []*kgo.Record
	for i := range 30 {
		currency := []string{"EUR", "USD"}[i%2]
		in = append(in, &kgo.Record{Topic: "payments", Key: fmt.Appendf(nil, "user-%d", i%3),
			Value:   fmt.Appendf(nil, `{"id":%d,"user":"user-%d","amount":%d,"currency":"%s"}`, i, i%3, i*100, currency),
			Headers: []kgo.RecordHeader{{Key: "event_id", Value: fmt.Appendf(nil, "e%d", i)}}})
	}
	produceTo(t, b.Addr(), in...)
	p := runFlow(t, "flowrun", b.Addr(), writeFlow(t, `
version: 1
name: large-eur
source:
  kafka: {brokers: ["${KAFKA_BROKERS}"], topic: payments, group: large-eur}
stages:
  - filter: payload.amount > 500 && payload.currency == "EUR"
  - map: '{"id": payload.id, "cents": payload.amount * 100}'
  - meta: {stage: '"large"'}
sink:
  kafka: {brokers: ["${KAFKA_BROKERS}"], topic: payments.large}
`))
	// Even ids 6..28 are EUR and above 500.
	var want []string
	for i := 6; i < 30; i += 2 {
		want = append(want, fmt.Sprintf("user-%d|%d|e%d|large|%d", i%3, i, i, i*10000))
	}
	poll.Until(t, "12 output messages", 30*time.Second, func() bool { return len(readAll(t, b.Addr(), "payments.large")) == 12 })
	poll.Until(t, "all 30 settled", 30*time.Second, func() bool {
		return p.sample(t, "flowrun_messages_total", `outcome="acked"`)+p.sample(t, "flowrun_messages_total", `outcome="filtered"`) == 30
	})
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0", code)
	}
	var got []string
	for _, r := range readAll(t, b.Addr(), "payments.large") {
		h := hdrs(r)
		var id, cents int
		if _, err := fmt.Sscanf(string(r.Value), `{"cents":%d,"id":%d}`, &cents, &id); err != nil {
			t.Fatalf("value %s: %v", r.Value, err)
		}
		// Produced without a watermill UUID, so the id names where it was read.
		if !strings.HasPrefix(h[wkafka.UUIDHeaderKey], "payments-") || len(h) != 3 {
			t.Errorf("headers %v", h)
		}
		got = append(got, fmt.Sprintf("%s|%d|%s|%s|%d", r.Key, id, h["event_id"], h["stage"], cents))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("output\n%v\nwant\n%v", got, want)
	}
	if !strings.Contains(p.out.String(), "in 30, out 12, filtered 18") {
		t.Fatalf("summary missing: %s", p.out.String())
	}
}

// kcat (librdkafka) produces into a running `flowrun broker`, a flow
// reshapes, and kcat consumes the output with key and headers.
func TestE2EKcatInterop(t *testing.T) {
	if _, err := exec.LookPath("kcat"); err != nil {
		if os.Getenv("FLOWRUN_REQUIRE_KCAT") != "" {
			t.Fatal("kcat is not installed but FLOWRUN_REQUIRE_KCAT is set (.ci/run installs it): apt-get install kcat")
		}
		t.Skip("kcat is not installed (apt-get install kcat); .ci/run installs it and makes this test required")
	}
	addr := freeAddr(t)
	brk := startProc(t, "flowrun broker", addr, "broker", "--addr", addr, "--partitions", "2")
	poll.Until(t, "broker listening", 20*time.Second, func() bool { return strings.Contains(brk.out.String(), "listening on "+addr) })

	kcat(t, "k1:{\"n\":1}\nk2:{\"n\":2}\nk3:{\"n\":3}\n", "-b", addr, "-P", "-t", "kcat.in", "-K:", "-H", "origin=kcat")
	p := runFlow(t, "flowrun", addr, writeFlow(t, `
version: 1
name: kcat-interop
source:
  kafka: {brokers: ["${KAFKA_BROKERS}"], topic: kcat.in}
stages:
  - filter: payload.n != 2
  - set: {double: payload.n * 2}
sink:
  kafka: {brokers: ["${KAFKA_BROKERS}"], topic: kcat.out}
`))
	var lines []string
	poll.Until(t, "kcat reads 2 messages", 30*time.Second, func() bool {
		// Fails with "Unknown topic" until the flow has written.
		out, err := kcatTry("", "-b", addr, "-C", "-t", "kcat.out", "-o", "beginning", "-e", "-q", "-f", "%k|%h|%s\n")
		lines = strings.Split(strings.TrimSpace(out), "\n")
		return err == nil && len(lines) == 2
	})
	slices.Sort(lines)
	// set keeps the fields as they came and adds double after them.
	for i, want := range []struct{ key, value string }{{"k1", `{"n":1,"double":2}`}, {"k3", `{"n":3,"double":6}`}} {
		parts := strings.SplitN(lines[i], "|", 3)
		if len(parts) != 3 {
			t.Fatalf("kcat line %q", lines[i])
		}
		headers := strings.Split(parts[1], ",")
		slices.Sort(headers)
		if parts[0] != want.key || parts[2] != want.value || len(headers) != 2 || headers[1] != "origin=kcat" ||
			!strings.HasPrefix(headers[0], wkafka.UUIDHeaderKey+"=kcat.in-") {
			t.Fatalf("kcat read %q, want key %s, value %s, headers origin and the id", lines[i], want.key, want.value)
		}
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("flowrun run exit %d", code)
	}
	if code := brk.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("flowrun broker exit %d", code)
	}
}

// Concurrency 8 and batches of 100 on a 2-partition topic: no batch is
// larger than its size, and a SIGKILL mid-stream loses nothing: after a
// restart every input message is in the output, written at most once by
// each run (at least once in all: the restart repeats what the killed
// run wrote but had not committed).
func TestE2ECrashLosesNothing(t *testing.T) {
	const total = 6000
	b := startKafka(t, kfake.SeedTopics(2, "crash.in"), kfake.SeedTopics(2, "crash.out"))
	produceIDs(t, b.Addr(), "crash.in", 0, total)
	flow := writeFlow(t, `
version: 1
name: crash
source:
  kafka: {brokers: ["${KAFKA_BROKERS}"], topic: crash.in, group: crash, commit_interval: 200ms}
concurrency: 8
middleware:
  - throttle: {per_second: 1500}
stages:
  - batch: {size: 100, timeout: 10s}
sink:
  kafka: {brokers: ["${KAFKA_BROKERS}"], topic: crash.out}
`)
	first := runFlow(t, "first run", b.Addr(), flow)
	poll.Until(t, "a third of the messages written", time.Minute, func() bool {
		return first.sample(t, "flowrun_messages_total", `outcome="acked"`) >= total/3
	})
	// How full batches are depends on timing; their size bounds them.
	// (One scrape: a batch flushed between two would skew the counts.)
	text := first.metricsText(t)
	sum, count := sampleOf(text, "flowrun_batch_size_sum"), sampleOf(text, "flowrun_batch_size_count")
	upTo128 := sampleOf(text, "flowrun_batch_size_bucket", `le="128"`)
	if count == 0 || sum > 100*count || upTo128 != count {
		t.Fatalf("%v messages in %v batches (%v of at most 128), want batches of at most 100", sum, count, upTo128)
	}
	if lag := first.sample(t, "flowrun_source_lag", `flow="crash"`, `topic="crash.in"`, `partition="1"`); lag <= 0 {
		t.Fatalf("flowrun_source_lag for partition 1 = %v mid-stream, want > 0", lag)
	}
	first.stop(t, syscall.SIGKILL)
	before := topicCounts(t, b.Addr(), "crash.out")
	mid := len(before)
	if mid == 0 || mid >= total {
		t.Fatalf("%d messages written before the kill, want it mid-stream", mid)
	}
	if d := duplicates(before); d != 0 {
		t.Fatalf("the first run wrote %d messages twice", d)
	}

	second := runFlow(t, "second run", b.Addr(), flow)
	counts := waitDistinct(t, b.Addr(), "crash.out", total, 2*time.Minute)
	for i := range total {
		v := fmt.Sprintf(`{"id":%d}`, i)
		if counts[v] == 0 {
			t.Fatalf("message %d lost", i)
		}
		if again := counts[v] - before[v]; again > 1 {
			t.Fatalf("message %d written %d times by the second run", i, again)
		}
	}
	t.Logf("%d written before SIGKILL, %d duplicates after the restart", mid, duplicates(counts))
	if code := second.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d after SIGTERM", code)
	}
}

// Three processes in one group share a 6-partition topic; one of them
// is killed (SIGKILL) or stopped (SIGTERM) mid-stream. The others take
// over its partitions and the output holds every input message; after a
// SIGTERM there are no duplicates beyond what was in flight.
func TestE2EScaleOut(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGKILL, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			const total, perProc = 9000, 600 // msgs, msgs/s per process
			b := startKafka(t, kfake.SeedTopics(6, "scale.in"), kfake.SeedTopics(6, "scale.out"))
			produceIDs(t, b.Addr(), "scale.in", 0, total)
			flow := writeFlow(t, fmt.Sprintf(`
version: 1
name: scale
source:
  kafka:
    brokers: ["${KAFKA_BROKERS}"]
    topic: scale.in
    group: scale
    session_timeout: 6s
    heartbeat_interval: 300ms
    rebalance_timeout: 10s
    commit_interval: 200ms
concurrency: 2
max_demand: 10
middleware:
  - throttle: {per_second: %d}
sink:
  kafka: {brokers: ["${KAFKA_BROKERS}"], topic: scale.out}
`, perProc))
			var procs []*proc
			for i := range 3 {
				procs = append(procs, runFlow(t, fmt.Sprintf("member %d", i), b.Addr(), flow))
			}
			poll.Until(t, "every member working", 30*time.Second, func() bool {
				for _, p := range procs {
					if p.sample(t, "flowrun_messages_total", `outcome="acked"`) < 100 {
						return false
					}
				}
				return true
			})
			procs[0].stop(t, sig)
			counts := waitDistinct(t, b.Addr(), "scale.out", total, 90*time.Second)
			for i := range total {
				if counts[fmt.Sprintf(`{"id":%d}`, i)] == 0 {
					t.Fatalf("message %d lost", i)
				}
			}
			// What each member can hold unacked: concurrency x max_demand.
			inFlight := 3 * 2 * 10
			t.Logf("%s: %d duplicates", sig, duplicates(counts))
			if sig == syscall.SIGTERM && duplicates(counts) > inFlight {
				t.Fatalf("%d duplicates after SIGTERM, more than the %d that can be in flight", duplicates(counts), inFlight)
			}
			for _, p := range procs[1:] {
				if code := p.stop(t, syscall.SIGTERM); code != 0 {
					t.Fatalf("%s exit %d", p.name, code)
				}
			}
		})
	}
}

// While the output topic refuses writes, the flow retries and backs up:
// nothing is acked and the process stops reading early instead of
// reading the backlog into memory; once the broker recovers every
// message arrives. Then a message
// the output topic can never take goes to the dead letter topic.
func TestE2ESinkOutage(t *testing.T) {
	const total, size = 40000, 4096 // a 160 MB backlog
	b := startKafka(t, kfake.SeedTopics(4, "outage.in"), kfake.SeedTopics(1, "outage.out", "outage.dlq"))
	pad := strings.Repeat("x", size)
	var in []*kgo.Record
	for i := range total {
		in = append(in, &kgo.Record{Topic: "outage.in", Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, `{"id":%d,"pad":"%s"}`, i, pad)})
	}
	produceTo(t, b.Addr(), in...)

	fault := b.Fault(kfake.Fault{Keys: []kmsg.Key{kmsg.Produce}, Topic: "outage.out", Err: kerr.NotEnoughReplicas, Count: -1})
	p := runFlow(t, "flowrun", b.Addr(), writeFlow(t, `
version: 1
name: outage
source:
  kafka: {brokers: ["${KAFKA_BROKERS}"], topic: outage.in, group: outage}
concurrency: 4
max_demand: 50
middleware:
  - retry: {max_retries: 1000, initial_interval: 100ms, max_interval: 500ms}
sink:
  kafka: {brokers: ["${KAFKA_BROKERS}"], topic: outage.out, retries: 1, retry_backoff: 20ms, max_message_bytes: 100KiB}
dead_letter:
  kafka: {brokers: ["${KAFKA_BROKERS}"], topic: outage.dlq}
`))
	poll.Until(t, "failing writes", 30*time.Second, func() bool { return fault.Hits() > 10 })
	// Backpressure: once the flow is full, reading stops (the count read
	// holds still for a second) long before the backlog's end.
	var read float64
	poll.Until(t, "reading from the source to stop", time.Minute, func() bool {
		before := read
		time.Sleep(time.Second) // the window in which nothing may be read
		read = p.sample(t, "flowrun_edge_messages_total", `from="source"`)
		return read > 0 && read == before
	})
	rss := p.sample(t, "process_resident_memory_bytes")
	settled := p.sample(t, "flowrun_messages_total")
	if settled != 0 || read > total/10 {
		t.Fatalf("during the outage: %v read from the source, %v settled; want reading stopped early, none settled", read, settled)
	}
	if rss > 150<<20 { // reading the backlog would take 160 MB more
		t.Fatalf("resident memory %.0f MB during the outage with a 160 MB backlog", rss/(1<<20))
	}
	t.Logf("during the outage: %v messages read, %.0f MB resident", read, rss/(1<<20))
	fault.Remove()

	counts := waitDistinct(t, b.Addr(), "outage.out", total, 5*time.Minute)
	for i := range total {
		if counts[fmt.Sprintf(`{"id":%d,"pad":"%s"}`, i, pad)] == 0 {
			t.Fatalf("message %d lost", i)
		}
	}
	if dl := p.sample(t, "flowrun_messages_total", `outcome="dead_lettered"`); dl != 0 {
		t.Fatalf("%v messages dead-lettered by a recoverable outage", dl)
	}

	huge := &kgo.Record{Topic: "outage.in", Key: []byte("huge"), Value: fmt.Appendf(nil, `{"id":-1,"pad":"%s"}`, strings.Repeat(pad, 50)),
		Headers: []kgo.RecordHeader{{Key: "trace", Value: []byte("t-1")}}}
	produceTo(t, b.Addr(), huge)
	var dead []*kgo.Record
	poll.Until(t, "the huge message dead-lettered", 60*time.Second, func() bool {
		dead = readAll(t, b.Addr(), "outage.dlq")
		return len(dead) > 0
	})
	h := hdrs(dead[0])
	if len(dead) != 1 || string(dead[0].Key) != "huge" || string(dead[0].Value) != string(huge.Value) || h["trace"] != "t-1" ||
		h["flow"] != "outage" || h["error_stage"] != "sink" || !strings.Contains(h["error"], "larger than configured Producer.MaxMessageBytes") {
		t.Fatalf("dead letter topic holds %d records; first: key %q, %d bytes, headers %v", len(dead), dead[0].Key, len(dead[0].Value), h)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("exit %d", code)
	}
}

// The walk-through of docs/kafka.md with the example flows: load the
// example payments with a flow, process them, print the output topic.
func TestE2EExampleFlows(t *testing.T) {
	b := startKafka(t)
	examples, err := filepath.Abs("../../examples")
	if err != nil {
		t.Fatal(err)
	}
	env := []string{"KAFKA_BROKERS=" + b.Addr(), "FLOWRUN_EXAMPLES=" + examples}
	load := startProcEnv(t, "load", env, "run", "--http-addr", "", filepath.Join(examples, "flows/kafka-load-payments.yaml"))
	select {
	case <-load.done:
	case <-time.After(60 * time.Second):
		t.Fatal("the load flow did not end at EOF")
	}
	if code := load.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("load flow exit %d", code)
	}

	// What the flow must produce, computed from the data file.
	data, err := os.ReadFile(filepath.Join(examples, "data/payments.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var want []string
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var p struct {
			ID, User, Currency, Country string
			Amount                      float64
		}
		if err := json.Unmarshal([]byte(line), &p); err != nil {
			t.Fatal(err)
		}
		if p.Amount > 500 && p.Currency == "EUR" {
			want = append(want, fmt.Sprintf(`%s {"cents":%d,"country":"%s","id":"%s","user":"%s"}`,
				p.User, int(math.Round(p.Amount*100)), p.Country, p.ID, p.User))
		}
	}
	slices.Sort(want)

	process := startProcEnv(t, "process", env, "run", "--http-addr", "", filepath.Join(examples, "flows/kafka-large-eur-payments.yaml"))
	poll.Until(t, "the large EUR payments", 30*time.Second, func() bool { return len(readAll(t, b.Addr(), "payments.large")) >= len(want) })
	var got []string
	for _, r := range readAll(t, b.Addr(), "payments.large") {
		got = append(got, string(r.Key)+" "+string(r.Value))
	}
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("payments.large holds\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	if code := process.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("process flow exit %d", code)
	}

	printer := startProcEnv(t, "print", env, "run", "--http-addr", "", filepath.Join(examples, "flows/kafka-print.yaml"))
	poll.Until(t, "printed envelopes", 30*time.Second, func() bool { return strings.Count(printer.stdout.String(), "\n") >= len(want) })
	if code := printer.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("print flow exit %d", code)
	}
	for _, line := range strings.Split(strings.TrimSpace(printer.stdout.String()), "\n") {
		var e struct {
			Key, Topic string
			Meta       map[string]string
			Payload    map[string]any
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil || e.Topic != "payments.large" || e.Meta["origin"] != "example-file" || e.Payload["user"] != e.Key {
			t.Fatalf("printed %q (%v)", line, err)
		}
	}
}
