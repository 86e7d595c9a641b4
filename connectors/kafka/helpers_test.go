package kafka

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/connectors/kafka/broker"
	"github.com/flowrun/flowrun/internal/poll"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// startBroker starts an in-process broker on a random loopback port with
// the given topics (name -> partitions); topics are also created on
// first use with one partition.
func startBroker(t *testing.T, topics map[string]int32) *broker.Cluster {
	t.Helper()
	var opts []kfake.Opt
	for name, parts := range topics {
		opts = append(opts, kfake.SeedTopics(parts, name))
	}
	c, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", Logger: testLogger()}, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c
}

func testLogger() *slog.Logger {
	if os.Getenv("KAFKA_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

// config builds a connector config the way the compiler does: defaults
// of fields first, then the given values.
func config(fields []registry.Field, values map[string]any) registry.Config {
	cfg := registry.Config{}
	for _, f := range fields {
		if f.Default != nil {
			cfg[f.Name] = f.Default
		}
	}
	for k, v := range values {
		cfg[k] = v
	}
	return cfg
}

func sourceConfigFor(addr, topic, group string, more map[string]any) registry.Config {
	values := map[string]any{"brokers": []any{addr}, "topic": topic, "group": group,
		"heartbeat_interval": 200 * time.Millisecond, "session_timeout": 6 * time.Second,
		"commit_interval": 50 * time.Millisecond, "rebalance_timeout": 10 * time.Second}
	for k, v := range more {
		values[k] = v
	}
	return config(sourceFields, values)
}

func newTestSource(t *testing.T, cfg registry.Config, env registry.Env) *source {
	t.Helper()
	if env.Logger == nil && os.Getenv("KAFKA_TEST_LOG") == "" {
		// The source's own log, shown when the test fails (it runs
		// last, after the source is closed).
		var log syncBuffer
		env.Logger = slog.New(slog.NewTextHandler(&log, &slog.HandlerOptions{Level: slog.LevelDebug}))
		t.Cleanup(func() {
			if t.Failed() {
				t.Logf("source log:\n%s", log.String())
			}
		})
	}
	if env.Logger == nil {
		env.Logger = testLogger()
	}
	if env.Flow == "" {
		env.Flow = "test"
	}
	s, err := newSource(context.Background(), cfg, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// produce writes records with franz-go, a client independent of Sarama.
func produce(t *testing.T, addr string, records ...*kgo.Record) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, records...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

// consumeAll reads n records of topic from the start with franz-go.
func consumeAll(t *testing.T, addr, topic string, n int) []*kgo.Record {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableFetchSessions())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("topic %s: got %d records, want %d", topic, len(out), n)
		}
		fs.EachError(func(_ string, _ int32, err error) { t.Errorf("fetch: %v", err) })
		out = append(out, fs.Records()...)
	}
	return out
}

// readN reads exactly n messages from s, failing after a timeout.
func readN(t *testing.T, s *source, n int) []*message.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var out []*message.Message
	buf := make([]*message.Message, 64)
	for len(out) < n {
		k, err := s.Read(ctx, buf[:min(len(buf), n-len(out))])
		if err != nil {
			t.Fatalf("read after %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, buf[:k]...)
	}
	return out
}

// committed returns the group's committed offset of topic/partition
// (-1 when none), asked from the broker by a separate admin client.
func committed(t *testing.T, addr, group, topic string, partition int32) int64 {
	t.Helper()
	admin, err := sarama.NewClusterAdmin([]string{addr}, sarama.NewConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close()
	resp, err := admin.ListConsumerGroupOffsets(group, map[string][]int32{topic: {partition}})
	if err != nil {
		t.Fatal(err)
	}
	b := resp.GetBlock(topic, partition)
	if b == nil {
		return -1
	}
	return b.Offset
}

// eventually polls cond until it holds or 30 s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	poll.Until(t, what, 30*time.Second, cond)
}

var errTest = errors.New("test failure")

func brokerStart(partitions int32) (*broker.Cluster, error) {
	return broker.Start(broker.Options{Addr: "127.0.0.1:0", Logger: testLogger()},
		kfake.SeedTopics(partitions, "in", "out"))
}

// syncBuffer is a bytes.Buffer the source's goroutines may write to.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
