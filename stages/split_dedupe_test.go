package stages_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	_ "github.com/flowrun/flowrun/middleware"
	"github.com/flowrun/flowrun/registry"
)

// Split children have ids of their own, so a dedupe on id downstream
// (here the dedupe middleware of a flow reading what the split wrote)
// keeps every child and still drops a real repeat.
func TestSplitChildrenSurviveDedupeOnID(t *testing.T) {
	x := newExec(&bytes.Buffer{})
	children, err := step(t, "split", prog(t, "payload.items")).Apply(x, newMsg(`{"items": [{"sku": "a"}, {"sku": "a"}, {"sku": "b"}]}`), nil)
	if err != nil || len(children) != 3 {
		t.Fatalf("split: %d children, %v", len(children), err)
	}

	spec, _ := registry.LookupMiddleware("dedupe")
	dd, err := spec.Build(&registry.Build{Flow: "downstream"}, registry.Config{"key": prog(t, "id"), "ttl": time.Minute, "max_keys": 100})
	if err != nil {
		t.Fatal(err)
	}
	handle := dd.Wrap(func(_ *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
		return append(out, m), nil
	})
	var passed []string
	deliver := func(id string) {
		m := &message.Message{ID: id, Raw: []byte(`{}`)} // as the downstream source reads it
		m.Tracker = message.NewTracker(m, func(*message.Tracker) {})
		out, err := handle(x, m, nil)
		if err != nil {
			t.Fatal(err)
		}
		if len(out) == 1 {
			passed = append(passed, id)
			dd.OnSettle(m.Tracker) // delivered and acked before the next one comes
		}
	}
	for _, c := range children {
		deliver(c.ID)
	}
	deliver(children[0].ID) // the same child again: a real duplicate
	if want := []string{"id-1.0", "id-1.1", "id-1.2"}; !slices.Equal(passed, want) {
		t.Fatalf("passed the dedupe: %q, want %q", passed, want)
	}
}
