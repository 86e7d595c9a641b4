package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Writes overlap: when write A's round ends and it closes the connection
// it saw fail, write B may already have closed that one and opened a new
// connection with requests in flight. A stale close must leave the new
// connection alone, or B's requests fail and are written twice.
func TestSinkClosesOnlyTheConnectionThatFailed(t *testing.T) {
	b := startBroker(t, map[string]int32{"out": 1})
	s := newTestSink(t, b.Addr(), "out", nil)
	write := func(id string) {
		t.Helper()
		if err := s.Write(context.Background(), []*message.Message{{ID: id, Body: []byte(id)}}); err != nil {
			t.Fatal(err)
		}
	}
	write("1")
	br, err := s.client.Leader("out", 0)
	if err != nil {
		t.Fatal(err)
	}
	seen := s.connection(br) // what a write that saw the connection fail holds

	s.closeConnection(br, seen) // B closes it
	if ok, _ := br.Connected(); ok {
		t.Fatal("the failed connection is still open")
	}
	write("2") // and B's next write opens a new one
	if ok, _ := br.Connected(); !ok {
		t.Fatal("the write did not open a new connection")
	}
	s.closeConnection(br, seen) // A's stale close
	if ok, _ := br.Connected(); !ok {
		t.Fatal("a stale close closed the new connection")
	}
	write("3")
	if got := len(consumeAll(t, b.Addr(), "out", 3)); got != 3 {
		t.Fatalf("%d records, want 3", got)
	}
}

// When the write's context ends while one broker has not answered, the
// batches another broker acknowledged stand: only the unanswered
// messages fail (to be sent again), not the whole write.
func TestSinkContextEndFailsOnlyTheUnanswered(t *testing.T) {
	b := startBrokers(t, 2, "out", 2)
	for p, node := range []int32{0, 1} {
		if err := b.MoveTopicPartition("out", int32(p), node); err != nil {
			t.Fatal(err)
		}
	}
	s := newTestSink(t, b.Addr(), "out", nil)
	on := func(p int32) string {
		for i := 0; ; i++ {
			if k := fmt.Sprintf("k%d", i); murmur2Partition([]byte(k), 2) == p {
				return k
			}
		}
	}
	msgs := []*message.Message{{ID: "a", Key: on(0), Body: []byte("a")}, {ID: "b", Key: on(1), Body: []byte("b")}, {ID: "c", Key: on(0), Body: []byte("c")}}
	if err := s.Write(context.Background(), msgs); err != nil { // both connections open
		t.Fatal(err)
	}
	release := make(chan struct{})
	b.ControlKey(int16(kmsg.Produce), func(kmsg.Request) (kmsg.Response, error, bool) {
		b.KeepControl()
		if b.CurrentNode() == 1 {
			b.SleepControl(func() { <-release })
		}
		return nil, nil, false
	})
	// Partition 0's answer must come before the deadline, also on a
	// loaded machine; partition 1's never comes before it.
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err := s.Write(ctx, msgs)
	close(release)
	var partial *registry.WriteError
	if !errors.As(err, &partial) || !slices.Equal(partial.Failed, []int{1}) || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write = %v; want a WriteError naming only message 1 (partition 1), for the deadline", err)
	}
	count := map[string]int{}
	for _, r := range consumeAll(t, b.Addr(), "out", 5) {
		count[string(r.Value)]++
	}
	if count["a"] != 2 || count["c"] != 2 {
		t.Fatalf("topic holds %v; want a and c twice (both writes)", count)
	}
}
