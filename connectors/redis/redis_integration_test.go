//go:build integration

package redis

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
)

func harness() conformance.Harness {
	return conformance.Harness{
		Connector: "redis",
		Features: conformance.Features{
			Key: true, Meta: true, ID: true, Order: true, Redelivery: true, Persistent: true, Binary: true,
			DemandSlack: 0, // the source counts what it handed out
		},
		Topic: func(t *testing.T) (map[string]any, map[string]any) {
			stream := "conf-" + uuid.NewString()
			t.Cleanup(func() { deleteKey(t, stream) })
			src := map[string]any{"stream": stream, "group": "g-" + stream, "claim_idle": time.Second,
				"block": 200 * time.Millisecond, "redelivery_delay": 50 * time.Millisecond}
			return src, map[string]any{"stream": stream}
		},
		// watermill's format reserves this metadata name for the id.
		Refuse: func(_ *testing.T, _, snk map[string]any) (map[string]any, func(*message.Message)) {
			return snk, func(m *message.Message) { m.Meta = map[string]string{redisstream.UUIDHeaderKey: "taken"} }
		},
	}
}

func TestConformance(t *testing.T) { conformance.Run(t, harness()) }

func deleteKey(t *testing.T, key string) {
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer c.Close()
	if err := c.Del(context.Background(), key).Err(); err != nil {
		t.Errorf("cleanup: del %s: %v", key, err)
	}
}

// A crashed consumer that never comes back: another consumer of the
// group takes its entries over once they are idle for claim_idle.
func TestDeadConsumerEntriesAreClaimed(t *testing.T) {
	spec, _ := registry.LookupConnector("redis")
	stream := "claim-" + uuid.NewString()
	t.Cleanup(func() { deleteKey(t, stream) })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cfg := func(consumer string) registry.Config {
		return conformance.Config(t, spec.SourceFields, map[string]any{"stream": stream, "group": "g", "consumer": consumer,
			"claim_idle": 500 * time.Millisecond, "block": 100 * time.Millisecond})
	}
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer c.Close()
	dead, err := spec.Source(ctx, cfg("dead"), conformance.Env(t, "source", 10))
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		if err := c.XAdd(ctx, &goredis.XAddArgs{Stream: stream, Values: map[string]any{"payload": i, "origin": "cli"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	buf := make([]*message.Message, 3)
	n, err := dead.Read(ctx, buf)
	if err != nil || n != 3 {
		t.Fatalf("first consumer read (%d, %v), want 3 entries", n, err)
	}
	dead.Close() // no acks: its 3 entries stay pending under "dead"

	alive, err := spec.Source(ctx, cfg("alive"), conformance.Env(t, "source", 10))
	if err != nil {
		t.Fatal(err)
	}
	defer alive.Close()
	got := map[string]bool{}
	for len(got) < 3 {
		n, err := alive.Read(ctx, buf)
		if err != nil {
			t.Fatalf("after %d entries: %v", len(got), err)
		}
		for _, m := range buf[:n] {
			if m.Meta["origin"] != "cli" {
				t.Errorf("plain field origin not in meta: %v", m.Meta)
			}
			got[string(m.Raw)] = true
			alive.Ack(m)
		}
	}
	if !got["0"] || !got["1"] || !got["2"] {
		t.Fatalf("claimed payloads %v, want 0, 1, 2", got)
	}
}

func TestCheck(t *testing.T) {
	spec, _ := registry.LookupConnector("redis")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	key := "notastream-" + uuid.NewString()
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer c.Close()
	if err := c.Set(ctx, key, "x", time.Minute).Err(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { deleteKey(t, key) })
	for _, tc := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"stream": "s", "url": "redis://127.0.0.1:1/0"}, "cannot connect to Redis server 127.0.0.1:1"},
		{map[string]any{"stream": key}, "holds a string, not a stream"},
		{map[string]any{"stream": "fresh-" + uuid.NewString()}, ""},
	} {
		err := spec.Check(ctx, conformance.Config(t, spec.SourceFields, tc.raw), conformance.Env(t, "source", 0))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Check(%v) = %v, want nil", tc.raw, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Check(%v) = %v, want an error containing %q", tc.raw, err, tc.want)
		}
	}
}

// The connector inside real flowrun processes: SIGKILL, SIGTERM, dead
// letter, and redis-server restarting mid-stream.
func TestGraphConformance(t *testing.T) {
	conformance.RunGraph(t, harness(), conformance.RedisService())
}
