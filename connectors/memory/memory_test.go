package memory

import (
	"context"
	"errors"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	"go.uber.org/goleak"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// topic is unique per test run: the shared topics keep every message.
func topic(t *testing.T) string { return t.Name() + "-" + watermill.NewShortUUID() }

func config(fields []registry.Field, set registry.Config) registry.Config {
	cfg := registry.Config{}
	for _, f := range fields {
		if f.Default != nil {
			cfg[f.Name] = f.Default
		}
	}
	for k, v := range set {
		cfg[k] = v
	}
	return cfg
}

func spec(t *testing.T) *registry.ConnectorSpec {
	t.Helper()
	sp, ok := registry.LookupConnector("memory")
	if !ok || sp.Source == nil || sp.Sink == nil {
		t.Fatal(`"memory" is not registered as source and sink`)
	}
	return sp
}

func openSource(t *testing.T, set registry.Config) registry.Source {
	t.Helper()
	sp := spec(t)
	src, err := sp.Source(context.Background(), config(sp.SourceFields, set), registry.Env{Flow: "reader", MaxInFlight: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = src.Close() })
	return src
}

func openSink(t *testing.T, set registry.Config) registry.Sink {
	t.Helper()
	sp := spec(t)
	sink, err := sp.Sink(context.Background(), config(sp.SinkFields, set), registry.Env{Flow: "writer", MaxInFlight: 16})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = sink.Close() })
	return sink
}

// take reads until it has n messages (GoChannel does not keep order).
func take(t *testing.T, src registry.Source, n int) []*message.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	var out []*message.Message
	for len(out) < n {
		buf := make([]*message.Message, n-len(out))
		k, err := src.Read(ctx, buf)
		if err != nil {
			t.Fatalf("Read after %d of %d messages: %v", len(out), n, err)
		}
		out = append(out, buf[:k]...)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out
}

// expectNothing checks that no message arrives for a while.
func expectNothing(t *testing.T, src registry.Source) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	buf := make([]*message.Message, 4)
	if n, err := src.Read(ctx, buf); n != 0 || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Read = %d, %v; want nothing more (first: %+v)", n, err, buf[0])
	}
}

type seen struct {
	ID, Key, Topic, Raw string
	Meta                map[string]string
}

func see(msgs []*message.Message) []seen {
	var out []seen
	for _, m := range msgs {
		out = append(out, seen{m.ID, m.Key, m.Topic, string(m.Raw), m.Meta})
	}
	return out
}

// A sink of one flow feeds a source of another, opened later; acks end
// a delivery, a nack delivers the message again.
func TestRoundTripAcksAndNack(t *testing.T) {
	tp := topic(t)
	sink := openSink(t, registry.Config{"topic": tp})
	in := []*message.Message{
		{ID: "a", Key: "user-1", Meta: map[string]string{"origin": "web"}, Body: []byte(`{"n":1}`)},
		{ID: "b", Body: []byte(`"two"`)},
		{ID: "c", Key: "user-3", Body: []byte(`3`)},
	}
	if err := sink.Write(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	in[0].Body[1] = 'X' // the topic holds its own copy

	src := openSource(t, registry.Config{"topic": tp, "redelivery_delay": time.Duration(0)})
	got := take(t, src, 3)
	want := []seen{
		{"a", "user-1", tp, `{"n":1}`, map[string]string{"origin": "web"}},
		{"b", "", tp, `"two"`, nil},
		{"c", "user-3", tp, `3`, nil},
	}
	if !reflect.DeepEqual(see(got), want) {
		t.Fatalf("received %+v\nwant %+v", see(got), want)
	}
	src.Ack(got[0])
	src.Nack(got[1], errors.New("failed"))
	src.Ack(got[2])

	again := take(t, src, 1)
	if !reflect.DeepEqual(see(again), want[1:2]) {
		t.Fatalf("redelivered %+v, want %+v", see(again), want[1:2])
	}
	src.Ack(again[0])
	expectNothing(t, src)

	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Read(context.Background(), make([]*message.Message, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("Read after Close = %v, want ErrClosed", err)
	}
	goleak.VerifyNone(t)
}

func TestNackWaitsForRedeliveryDelay(t *testing.T) {
	tp := topic(t)
	const delay = 50 * time.Millisecond
	src := openSource(t, registry.Config{"topic": tp, "redelivery_delay": delay})
	sink := openSink(t, registry.Config{"topic": tp})
	if err := sink.Write(context.Background(), []*message.Message{{ID: "x", Body: []byte("1")}}); err != nil {
		t.Fatal(err)
	}
	first := take(t, src, 1)
	nacked := time.Now()
	src.Nack(first[0], errors.New("failed"))
	again := take(t, src, 1)
	if waited := time.Since(nacked); waited < delay {
		t.Fatalf("redelivered after %s, before the %s delay", waited, delay)
	}
	if again[0].ID != "x" || string(again[0].Raw) != "1" {
		t.Fatalf("redelivered %+v", see(again))
	}
	// A nack still waiting when the source closes is dropped with it.
	src.Nack(again[0], errors.New("failed again"))
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	goleak.VerifyNone(t)
}

// Read returns what is there without waiting to fill buf, and returns on ctx.
func TestReadDoesNotWaitToFill(t *testing.T) {
	tp := topic(t)
	src := openSource(t, registry.Config{"topic": tp})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if n, err := src.Read(ctx, make([]*message.Message, 4)); n != 0 || !errors.Is(err, context.Canceled) {
		t.Fatalf("Read on a done ctx = %d, %v; want 0, context.Canceled", n, err)
	}
	sink := openSink(t, registry.Config{"topic": tp})
	if err := sink.Write(context.Background(), []*message.Message{{Body: []byte("solo")}}); err != nil {
		t.Fatal(err)
	}
	buf := make([]*message.Message, 10)
	n, err := src.Read(context.Background(), buf)
	if n != 1 || err != nil || string(buf[0].Raw) != "solo" {
		t.Fatalf("Read = %d, %v; want the one message", n, err)
	}
	if buf[0].ID == "" {
		t.Fatal("a message without ID got none; the sink must give it a UUID")
	}
	src.Ack(buf[0])
}

// Every source of a topic gets every message (GoChannel fans out).
func TestFanOut(t *testing.T) {
	tp := topic(t)
	a := openSource(t, registry.Config{"topic": tp})
	b := openSource(t, registry.Config{"topic": tp})
	sink := openSink(t, registry.Config{"topic": tp})
	if err := sink.Write(context.Background(), []*message.Message{{ID: "1", Body: []byte("x")}}); err != nil {
		t.Fatal(err)
	}
	for _, src := range []registry.Source{a, b} {
		got := take(t, src, 1)
		if got[0].ID != "1" {
			t.Fatalf("got %+v", see(got))
		}
		src.Ack(got[0])
	}
}

func TestEmptyTopicAndClosedSink(t *testing.T) {
	sp := spec(t)
	_, err := sp.Source(context.Background(), registry.Config{"topic": ""}, registry.Env{})
	if err == nil || !strings.Contains(err.Error(), "topic") {
		t.Fatalf("source with empty topic: %v", err)
	}
	if _, err := sp.Sink(context.Background(), registry.Config{}, registry.Env{}); err == nil {
		t.Fatal("sink without topic was accepted")
	}
	sink := openSink(t, registry.Config{"topic": topic(t)})
	if err := sink.Close(); err != nil {
		t.Fatal(err)
	}
	if err := sink.Write(context.Background(), []*message.Message{{Body: []byte("x")}}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
}

// With MaxInFlight N the source hands out at most N messages that are
// not yet acked or nacked; each settled one lets one more through.
func TestMaxInFlightBoundsUnsettled(t *testing.T) {
	tp := topic(t)
	sp := spec(t)
	src, err := sp.Source(context.Background(), config(sp.SourceFields, registry.Config{"topic": tp}), registry.Env{MaxInFlight: 3})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	sink := openSink(t, registry.Config{"topic": tp})
	var in []*message.Message
	for _, id := range []string{"1", "2", "3", "4", "5"} {
		in = append(in, &message.Message{ID: id, Body: []byte(id)})
	}
	if err := sink.Write(context.Background(), in); err != nil {
		t.Fatal(err)
	}
	held := take(t, src, 3)
	expectNothing(t, src)

	src.Ack(held[0])
	src.Ack(held[0]) // a second ack of the same message frees nothing more
	fourth := take(t, src, 1)
	expectNothing(t, src)

	src.Nack(held[1], errors.New("failed")) // a nack frees its slot too
	fifth := take(t, src, 1)
	expectNothing(t, src)
	got := append(append(held, fourth...), fifth...)
	for _, m := range got[2:] {
		src.Ack(m)
	}
	got = append(got, take(t, src, 1)...) // the last of the 5, or the nacked one
	src.Ack(got[len(got)-1])
	expectNothing(t, src)
	seen := map[string]int{}
	for _, m := range got {
		seen[m.ID]++
	}
	want := map[string]int{"1": 1, "2": 1, "3": 1, "4": 1, "5": 1}
	want[held[1].ID]++ // nacked, so delivered twice
	if !reflect.DeepEqual(seen, want) {
		t.Fatalf("deliveries per id = %v, want %v", seen, want)
	}
}
