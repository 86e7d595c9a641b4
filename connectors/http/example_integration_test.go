//go:build integration

package http

import (
	"context"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/conformance"
	_ "github.com/flowrun/flowrun/connectors/redis" // the example's sink
	goredis "github.com/redis/go-redis/v9"
)

// The example flow, run as a user would: GitHub-style signed webhooks;
// a push is answered 200 once its record is in Redis, another event is
// filtered (200 too), a forged one refused.
func TestExampleFlow(t *testing.T) {
	rdb := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
	defer rdb.Close()
	ctx := context.Background()
	rdb.Del(ctx, "github-pushes")
	t.Cleanup(func() { rdb.Del(context.Background(), "github-pushes") })
	addr := freeAddr(t)
	flow := conformance.StartFlow(t, "../../examples/flows/http-github-pushes.yaml", "WEBHOOK_ADDR="+addr, "GITHUB_WEBHOOK_SECRET=s3cret")
	url := "http://" + addr + "/github"
	deliver := func(event, delivery, body, secret string) int {
		h := http.Header{"X-Github-Event": {event}, "X-Github-Delivery": {delivery}, "Content-Type": {"application/json"},
			"X-Hub-Signature-256": {"sha256=" + hex.EncodeToString(auth{secret: secret, scheme: schemeGitHub}.sign("", []byte(body)))}}
		// Like GitHub, retry while the flow is starting or answers 503
		// (Redis may be restarting for another package's test).
		for range 300 {
			req, _ := http.NewRequest("POST", url, strings.NewReader(body))
			req.Header = h
			resp, err := http.DefaultClient.Do(req)
			if err == nil {
				resp.Body.Close()
				if resp.StatusCode != http.StatusServiceUnavailable {
					return resp.StatusCode
				}
			}
			flow.Running()
			time.Sleep(200 * time.Millisecond)
		}
		t.Fatal("the webhook never answered")
		return 0
	}
	push := `{"ref":"refs/heads/main","repository":{"full_name":"acme/app"},"pusher":{"name":"ann"},"commits":[{},{}]}`
	if s := deliver("push", "d-1", push, "s3cret"); s != http.StatusOK {
		t.Fatalf("push: %d, want 200", s)
	}
	// Answered 200 means written: the record is there now.
	entries, err := rdb.XRange(ctx, "github-pushes", "-", "+").Result()
	if err != nil || len(entries) != 1 {
		t.Fatalf("stream after the push: %v (%v)", entries, err)
	}
	want := `{"commits":2,"pusher":"ann","ref":"refs/heads/main","repo":"acme/app"}`
	if e := entries[0].Values; e["payload"] != want || e["_flowrun_key"] != "d-1" {
		t.Fatalf("record %v, want payload %s and key d-1", e, want)
	}
	if s := deliver("issues", "d-2", `{"action":"opened"}`, "s3cret"); s != http.StatusOK {
		t.Fatalf("filtered event: %d, want 200", s)
	}
	if s := deliver("push", "d-3", push, "forged"); s != http.StatusUnauthorized {
		t.Fatalf("forged signature: %d, want 401", s)
	}
	// A captured push replayed under another (unsigned) delivery id is
	// dropped: dedupe keys on the signed ref and head commit.
	headed := `{"ref":"refs/heads/main","after":"c0ffee","repository":{"full_name":"acme/app"},"pusher":{"name":"ann"},"commits":[{}]}`
	for _, delivery := range []string{"d-4", "d-5"} {
		if s := deliver("push", delivery, headed, "s3cret"); s != http.StatusOK {
			t.Fatalf("push %s: %d, want 200", delivery, s)
		}
	}
	flow.Stop()
	if n, _ := rdb.XLen(ctx, "github-pushes").Result(); n != 2 {
		t.Fatalf("%d records, want the two pushes, not the replay", n)
	}
}
