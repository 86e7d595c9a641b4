package broker

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

// run starts Run in the background and returns its address and a stop
// function that waits for Run to return.
func run(t *testing.T, opts Options) (string, func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	ready := make(chan string, 1)
	opts.Ready = func(addr string) { ready <- addr }
	done := make(chan error, 1)
	go func() { done <- Run(ctx, opts) }()
	select {
	case addr := <-ready:
		return addr, func() {
			cancel()
			if err := <-done; err != nil {
				t.Errorf("Run: %v", err)
			}
		}
	case err := <-done:
		cancel()
		t.Fatalf("Run ended early: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("broker not ready")
	}
	return "", nil
}

func roundTrip(t *testing.T, addr string, produce []string, want []string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics("dev"), kgo.DefaultProduceTopic("dev"), kgo.AllowAutoTopicCreation(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, v := range produce {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce to an auto-created topic: %v", err)
		}
	}
	var got []string
	for len(got) < len(want) && ctx.Err() == nil {
		cl.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Value)) })
	}
	if strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("topic holds %v, want %v", got, want)
	}
}

// Topics are created on first use with the configured partitions, and a
// data directory keeps messages across a restart on the same address.
func TestRunKeepsDataAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	addr, stop := run(t, Options{Addr: "127.0.0.1:0", DataDir: dir, Partitions: 1})
	roundTrip(t, addr, []string{"a", "b"}, []string{"a", "b"})
	stop()

	again, stop := run(t, Options{Addr: addr, DataDir: dir, Partitions: 1})
	defer stop()
	roundTrip(t, again, []string{"c"}, []string{"a", "b", "c"})
}

func TestStartRejectsBadAddress(t *testing.T) {
	if _, err := Start(Options{Addr: "9092"}); err == nil || !strings.Contains(err.Error(), "write it as host:port") {
		t.Fatalf("Start = %v", err)
	}
}
