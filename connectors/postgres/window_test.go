package postgres

import (
	"strings"
	"testing"

	"github.com/flowrun/flowrun/registry"
)

func TestWatermarkMovesOnlyPastContiguousAcks(t *testing.T) {
	var w window
	w.reset(position{txid: 1, offset: 0})
	r1, r2, r3 := w.add(position{1, 1}), w.add(position{1, 2}), w.add(position{2, 3})
	if w.ack(r2) {
		t.Fatal("acking the second row moved the watermark past the unacked first")
	}
	if _, _, ok := w.toCommit(); ok {
		t.Fatal("something to commit before the first row is acked")
	}
	if !w.ack(r1) {
		t.Fatal("acking the first row did not move the watermark")
	}
	pos, gen, ok := w.toCommit()
	if !ok || pos != (position{1, 2}) {
		t.Fatalf("to commit %v %v, want {1 2}", pos, ok)
	}
	w.committedAt(pos, gen)
	if _, _, ok := w.toCommit(); ok {
		t.Fatal("the same position offered twice")
	}
	w.reset(position{1, 2}) // the group lock was lost: a new generation
	if w.ack(r3) {
		t.Fatal("an ack of an old generation moved the watermark")
	}
}

func TestTopicNamesAreSafeIdentifiers(t *testing.T) {
	for _, bad := range []string{`a"b`, "a b", "", strings.Repeat("x", 51), "a;drop"} {
		if _, err := topicOf(registry.Config{"topic": bad}); err == nil {
			t.Errorf("topic %q accepted", bad)
		}
	}
	if _, err := topicOf(registry.Config{"topic": "orders.eu-1_x"}); err != nil {
		t.Errorf("good topic refused: %v", err)
	}
}
