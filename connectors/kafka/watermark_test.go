package kafka

import (
	"context"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
)

func TestWatermarkAdvancesOverAckedPrefixOnly(t *testing.T) {
	w := newWatermark(4)
	for _, off := range []int64{10, 11, 13, 20} { // gaps, as after compaction
		if !w.push(off) {
			t.Fatalf("push %d refused", off)
		}
	}
	if w.push(21) {
		t.Fatal("push into a full ring accepted")
	}
	if w.find(12) != nil || w.find(13) == nil {
		t.Fatal("find does not match tracked offsets exactly")
	}
	w.find(11).state = acked
	w.find(13).state = acked
	if _, moved := w.advance(); moved {
		t.Fatal("advanced past unacked offset 10")
	}
	w.find(10).state = acked
	if next, moved := w.advance(); !moved || next != 14 || w.len() != 1 {
		t.Fatalf("advance = %d, %v with %d left; want 14 and 1 left", next, moved, w.len())
	}
	// The ring wraps around.
	for _, off := range []int64{21, 22, 23} {
		if !w.push(off) {
			t.Fatalf("push %d after advance refused", off)
		}
	}
	for _, off := range []int64{20, 21, 22, 23} {
		w.find(off).state = acked
	}
	if next, moved := w.advance(); !moved || next != 24 || w.len() != 0 {
		t.Fatalf("advance = %d, %v with %d left; want 24 and none left", next, moved, w.len())
	}
}

// fakeSession records marked offsets.
type fakeSession struct {
	sarama.ConsumerGroupSession
	marks []int64
}

func (f *fakeSession) MarkOffset(_ string, _ int32, offset int64, _ string) {
	f.marks = append(f.marks, offset)
}

func TestClaimMarksWatermarkAndIgnoresRevokedAcks(t *testing.T) {
	sess := &fakeSession{}
	c := newPartitionClaim(sess, "t", 0, 8, prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"}))
	ctx := context.Background()
	for off := range int64(4) {
		c.track(ctx, off, 4)
		if !c.handOut(off) {
			t.Fatalf("handOut %d refused", off)
		}
	}
	if c.handOut(0) {
		t.Fatal("the same offset handed out twice")
	}
	c.ack(1)
	c.ack(1) // duplicate: ignored
	if len(sess.marks) != 0 {
		t.Fatalf("marked %v before offset 0 was acked", sess.marks)
	}
	c.ack(0)
	if !c.nack(2) {
		t.Fatal("nack of a live claim should ask for redelivery")
	}
	c.ack(3)
	if len(sess.marks) != 1 || sess.marks[0] != 2 || c.committed() != 2 {
		t.Fatalf("marks %v, want [2] (offset 2 nacked)", sess.marks)
	}
	if !c.handOut(2) {
		t.Fatal("redelivery of nacked offset 2 refused")
	}
	if !c.revoke() {
		t.Fatal("revoke with offset 2 out should report busy")
	}
	c.ack(2) // during the drain: still marked
	select {
	case <-c.drained:
	case <-time.After(time.Second):
		t.Fatal("no drained signal once nothing was out")
	}
	if sess.marks[len(sess.marks)-1] != 4 {
		t.Fatalf("marks %v, want 4 last", sess.marks)
	}
	c.track(ctx, 4, 5)
	if c.handOut(4) {
		t.Fatal("handed out a message of a revoking partition")
	}
	c.finish()
	c.ack(4)
	if len(sess.marks) != 2 {
		t.Fatalf("marks %v: an ack after revocation was marked", sess.marks)
	}
}

// A full window makes the partition wait until acks free space.
func TestClaimWindowBlocksUntilAcked(t *testing.T) {
	c := newPartitionClaim(&fakeSession{}, "t", 0, 2, prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"}))
	ctx := context.Background()
	c.track(ctx, 0, 3)
	c.track(ctx, 1, 3)
	done := make(chan bool)
	go func() { done <- c.track(ctx, 2, 3) }()
	select {
	case <-done:
		t.Fatal("track into a full window returned")
	case <-time.After(50 * time.Millisecond):
	}
	c.handOut(0)
	c.ack(0)
	if !<-done {
		t.Fatal("track after space was freed failed")
	}
	short, cancel := context.WithTimeout(ctx, 10*time.Millisecond)
	defer cancel()
	if c.track(short, 3, 4) {
		t.Fatal("track into a full window succeeded without space")
	}
}
