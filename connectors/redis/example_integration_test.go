//go:build integration

package redis

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/conformance"
	goredis "github.com/redis/go-redis/v9"
)

// The example flow, run as a user would: clicks added with plain XADD
// are counted per page; SIGTERM flushes the open batches.
func TestExampleFlow(t *testing.T) {
	t.Cleanup(func() { deleteKey(t, "clicks"); deleteKey(t, "page-views") })
	deleteKey(t, "clicks")
	deleteKey(t, "page-views")
	flow := conformance.StartFlow(t, "../../examples/flows/redis-page-views.yaml")
	c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for { // the flow creates the group (and stream) as it starts
		if groups, err := c.XInfoGroups(ctx, "clicks").Result(); err == nil && len(groups) > 0 {
			break
		}
		flow.Running()
		time.Sleep(100 * time.Millisecond)
	}
	for _, page := range []string{"/pricing", "/docs", "/pricing"} {
		if err := c.XAdd(ctx, &goredis.XAddArgs{Stream: "clicks", Values: map[string]any{"page": page, "user": "u1"}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	for { // wait until the three clicks are acknowledged (batched)
		if p, err := c.XPending(ctx, "clicks", "page-views").Result(); err == nil && p.Count == 3 {
			break
		}
		flow.Running()
		time.Sleep(50 * time.Millisecond)
	}
	flow.Stop() // flushes the batches
	entries, err := c.XRange(ctx, "page-views", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	views := map[string]float64{}
	for _, e := range entries {
		var v struct {
			Page  string  `json:"page"`
			Views float64 `json:"views"`
		}
		if err := json.Unmarshal([]byte(e.Values["payload"].(string)), &v); err != nil {
			t.Fatalf("entry %v: %v", e.Values, err)
		}
		views[v.Page] += v.Views
	}
	if len(views) != 2 || views["/pricing"] != 2 || views["/docs"] != 1 {
		t.Fatalf("page views %v, want /pricing 2, /docs 1", views)
	}
	if p, _ := c.XPending(ctx, "clicks", "page-views").Result(); p.Count != 0 {
		t.Fatalf("%d clicks left unacknowledged after the drain", p.Count)
	}
}
