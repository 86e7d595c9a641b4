package kafka

import (
	"context"
	"testing"

	"github.com/flowrun/flowrun/message"
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
