package nats

import (
	"maps"
	"testing"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/flowrun/flowrun/registry"
	"github.com/nats-io/nats.go"
)

func TestFromHeadersSplitsIDKeyAndMeta(t *testing.T) {
	h := nats.Header{
		wmnats.WatermillUUIDHdr: {"id-1"},
		keyHeader:               {"user-7"},
		"trace":                 {"a", "b"},
		"Nats-Msg-Id":           {"dedupe"},
		"plain":                 {"v"},
	}
	id, key, meta := fromHeaders(h)
	if id != "id-1" || key != "user-7" {
		t.Fatalf("id, key = %q, %q; want id-1, user-7", id, key)
	}
	want := map[string]string{"trace": "a, b", "plain": "v"}
	if !maps.Equal(meta, want) {
		t.Fatalf("meta = %v, want %v (reserved Nats-* headers are not metadata)", meta, want)
	}
}

func TestSubjectMatches(t *testing.T) {
	for _, c := range []struct {
		pattern, subject string
		want             bool
	}{
		{"orders.*", "orders.eu", true},
		{"orders.*", "orders.eu.big", false},
		{"orders.>", "orders.eu.big", true},
		{"orders.>", "orders", false},
		{"orders", "orders", true},
		{"orders.eu", "orders.us", false},
		{"*.eu", "orders.eu", true},
	} {
		if got := subjectMatches(c.pattern, c.subject); got != c.want {
			t.Errorf("subjectMatches(%q, %q) = %v, want %v", c.pattern, c.subject, got, c.want)
		}
	}
}

func TestMaxAckPendingFollowsTheFlow(t *testing.T) {
	if got := maxAckPending(registry.Config{}, registry.Env{MaxInFlight: 96}); got != 96 {
		t.Errorf("from the flow: %d, want 96", got)
	}
	if got := maxAckPending(registry.Config{"max_ack_pending": 10}, registry.Env{MaxInFlight: 96}); got != 10 {
		t.Errorf("max_ack_pending set: %d, want 10", got)
	}
	if got := maxAckPending(registry.Config{}, registry.Env{}); got != defaultMaxAckPending {
		t.Errorf("no limit known: %d, want %d", got, defaultMaxAckPending)
	}
}

func TestServerURL(t *testing.T) {
	t.Setenv("NATS_URL", "")
	if got := serverURL(registry.Config{}); got != defaultURL {
		t.Errorf("default: %q", got)
	}
	t.Setenv("NATS_URL", "nats://elsewhere:4222")
	if got := serverURL(registry.Config{}); got != "nats://elsewhere:4222" {
		t.Errorf("from $NATS_URL: %q", got)
	}
	if got := serverURL(registry.Config{"url": "nats://given:1"}); got != "nats://given:1" {
		t.Errorf("given: %q", got)
	}
}
