package runtime_test

import (
	"context"
	"testing"
	"time"

	"github.com/flowrun/flowrun/runtime"
)

// A stop while a sink write hangs: the drain timeout cancels the write,
// and what it held stays unacked (redelivered by the broker), neither
// acked, nacked nor dead-lettered.
func TestDrainTimeoutLeavesMessagesForRedelivery(t *testing.T) {
	src := newSource(t, "dt")
	src.endless = true
	sink := newSink(t, "dt-out")
	sink.delay = time.Hour // honours ctx
	dlq := newSink(t, "dt-dlq")
	flow := compile(t, "version: 1\nname: dt\nsource: {tsrc: {name: dt}}\nsink: {tsink: {name: dt-out}}\ndead_letter: {tsink: {name: dt-dlq}}\n")
	sum := runUntil(t, flow, runtime.Options{DrainTimeout: 200 * time.Millisecond}, "a sink write in flight",
		func() bool { return sink.inFlight.Load() > 0 })
	acked, nacked := src.counts()
	if !sum.DrainTimeout || len(dlq.messages()) != 0 || acked != 0 || nacked != 0 || sum.In == 0 {
		t.Fatalf("summary %+v, dead letters %d, acked %d, nacked %d: cancelled work must stay unacked", sum, len(dlq.messages()), acked, nacked)
	}
}

// A finite source ends the run the same way as a stop signal: the drain
// is bounded by the drain timeout even when a sink hangs.
func TestDrainTimeoutAlsoBoundsTheEndOfAFiniteSource(t *testing.T) {
	newSource(t, "fin", `1`, `2`)
	sink := newSink(t, "fin-out")
	sink.delay = time.Hour // honours ctx
	flow := compile(t, "version: 1\nname: fin\nsource: {tsrc: {name: fin}}\nsink: {tsink: {name: fin-out}}\n")
	sum, err := runtime.New(flow, runtime.Options{DrainTimeout: 100 * time.Millisecond}).Run(context.Background())
	// The test source cannot redeliver: what the drain left unacked is lost.
	if err != nil || !sum.DrainTimeout || sum.In != 2 || sum.Out != 0 || sum.Lost != 2 || !sum.Undelivered() {
		t.Fatalf("summary %+v, err %v", sum, err)
	}
}
