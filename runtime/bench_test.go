package runtime_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/runtime"
)

// Benchmarks of whole pipelines, one message per op: b.N messages go
// from a lean source through the stages to a discarding sink, so ns/op
// and allocs/op are the runtime's cost per message (plus the stages').
// The fakes of fixture_test.go record every message for inspection,
// which would dominate here, so these only count; the tsrc and tsink
// connectors find them by name in the same fixtures map.

// paymentBody is one line of the file workloads of bench/workload.
const paymentBody = `{"id":"p-000001","user":"u-123","amount":1234.5,"currency":"EUR","country":"DE","ts":"2026-01-01T00:00:01Z","tags":["web","vip"]}`

// benchSource serves n messages, cycling through bodies, then io.EOF.
type benchSource struct {
	bodies        [][]byte
	n             int64
	next          atomic.Int64
	acked, nacked atomic.Int64
}

func (s *benchSource) Read(ctx context.Context, buf []*message.Message) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	first := s.next.Load()
	n := min(int64(len(buf)), s.n-first)
	if n <= 0 {
		return 0, io.EOF
	}
	for i := range n {
		body := s.bodies[int(first+i)%len(s.bodies)]
		buf[i] = &message.Message{ID: "bench", Topic: "bench", Raw: body}
	}
	s.next.Add(n)
	return int(n), nil
}

func (s *benchSource) Ack(*message.Message)         { s.acked.Add(1) }
func (s *benchSource) Nack(*message.Message, error) { s.nacked.Add(1) }
func (s *benchSource) Close() error                 { return nil }

// benchSink counts what it accepts and keeps the first body, and the
// sum of a "count" field when asked (reduced batches).
type benchSink struct {
	sumCounts bool
	written   atomic.Int64
	counted   atomic.Int64
	mu        sync.Mutex
	first     string
}

func (s *benchSink) Write(_ context.Context, msgs []*message.Message) error {
	s.written.Add(int64(len(msgs)))
	s.mu.Lock()
	if s.first == "" && len(msgs) > 0 {
		s.first = string(msgs[0].Body)
	}
	s.mu.Unlock()
	if s.sumCounts {
		for _, m := range msgs {
			var r struct{ Count int64 }
			if err := json.Unmarshal(m.Body, &r); err != nil {
				return fmt.Errorf("reduced body %q: %w", m.Body, err)
			}
			s.counted.Add(r.Count)
		}
	}
	return nil
}

func (s *benchSink) Close() error { return nil }

// benchFlow compiles a flow reading from a benchSource and writing to a
// benchSink, registering both under the benchmark's name.
func benchFlow(b *testing.B, stages string, src *benchSource, sink *benchSink) *compiler.Flow {
	b.Helper()
	name := fmt.Sprintf("bench-%p", src)
	fixtures.Store(name, src)
	fixtures.Store(name+"-out", sink)
	b.Cleanup(func() { fixtures.Delete(name); fixtures.Delete(name + "-out") })
	text := fmt.Sprintf("version: 1\nname: bench\nsource: {tsrc: {name: %s}}\n%ssink: {tsink: {name: %s-out}}\n", name, stages, name)
	f, ds := dsl.Parse("bench.yaml", []byte(text), func(string) (string, bool) { return "", false })
	if len(ds) > 0 {
		b.Fatalf("parse: %v", ds)
	}
	flow, ds := compiler.Compile(f)
	if len(ds) > 0 {
		b.Fatalf("compile: %v", ds)
	}
	return flow
}

// runBench runs flow over b.N messages and reports msgs/s; it fails
// unless every message was acked and none nacked.
func runBench(b *testing.B, flow *compiler.Flow, src *benchSource) runtime.Summary {
	b.Helper()
	src.n = int64(b.N)
	p := runtime.New(flow, runtime.Options{Logger: slog.New(slog.DiscardHandler)})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b.ReportAllocs()
	b.ResetTimer()
	sum, err := p.Run(ctx)
	b.StopTimer()
	if err != nil {
		b.Fatalf("run: %v", err)
	}
	if got := src.acked.Load(); got != int64(b.N) || src.nacked.Load() != 0 || sum.In != int64(b.N) {
		b.Fatalf("%d messages: acked %d, nacked %d, summary %+v", b.N, got, src.nacked.Load(), sum)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "msgs/s")
	return sum
}

func BenchmarkPipelinePassthrough(b *testing.B) {
	src := &benchSource{bodies: [][]byte{[]byte(paymentBody)}}
	sink := &benchSink{}
	runBench(b, benchFlow(b, "", src, sink), src)
	if sink.written.Load() != int64(b.N) || sink.first != paymentBody {
		b.Fatalf("sink got %d messages, first %q; want %d, the source's bytes", sink.written.Load(), sink.first, b.N)
	}
}

// W2 of bench/workload; the body passes the filter, so every message is
// decoded, mapped and encoded (the costly path).
func BenchmarkPipelineFilterMap(b *testing.B) {
	src := &benchSource{bodies: [][]byte{[]byte(paymentBody)}}
	sink := &benchSink{}
	runBench(b, benchFlow(b, `stages:
  - filter: payload.amount > 500 && payload.currency == "EUR"
  - map: '{"id": payload.id, "user": payload.user, "amount_cents": payload.amount * 100, "big": payload.amount > 5000}'
`, src, sink), src)
	want := `{"amount_cents":123450,"big":false,"id":"p-000001","user":"u-123"}`
	if sink.written.Load() != int64(b.N) || sink.first != want {
		b.Fatalf("sink got %d messages, first %q; want %d, %q", sink.written.Load(), sink.first, b.N, want)
	}
}

// W4 of bench/workload: batches of 1000 per country, each reduced to a
// count, over ten countries.
func BenchmarkPipelineBatchReduce(b *testing.B) {
	src := &benchSource{}
	for _, c := range []string{"DE", "FR", "IT", "ES", "NL", "BE", "AT", "CH", "GB", "US"} {
		src.bodies = append(src.bodies, fmt.Appendf(nil,
			`{"id":"p-000001","user":"u-123","amount":1234.5,"currency":"EUR","country":%q,"ts":"2026-01-01T00:00:01Z","tags":[]}`, c))
	}
	sink := &benchSink{sumCounts: true}
	runBench(b, benchFlow(b, `stages:
  - batch: {size: 1000, timeout: 1s, key: payload.country, reduce: '{"country": batch_key, "count": len(batch)}'}
`, src, sink), src)
	if sink.counted.Load() != int64(b.N) {
		b.Fatalf("reduced counts add up to %d, want %d", sink.counted.Load(), b.N)
	}
}
