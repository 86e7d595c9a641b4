package runtime_test

import (
	"context"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/internal/poll"
	"github.com/flowrun/flowrun/message"
	_ "github.com/flowrun/flowrun/middleware"
	"github.com/flowrun/flowrun/registry"
	"github.com/flowrun/flowrun/runtime"
	_ "github.com/flowrun/flowrun/stages"
)

// Test connectors: "tsrc" and "tsink" find their fixture by name, so a
// flow file written in a test drives fixtures the test inspects (any
// registry.Source or registry.Sink: the recording fakes below, the
// counting ones of the benchmarks, wrappers).
var fixtures sync.Map // name -> registry.Source | registry.Sink

func init() {
	named := []registry.Field{{Name: "name", Type: registry.String, Required: true}}
	registry.RegisterConnector(&registry.ConnectorSpec{Name: "tsrc", SourceFields: named,
		Source: func(_ context.Context, c registry.Config, _ registry.Env) (registry.Source, error) {
			s, _ := fixtures.Load(c.String("name"))
			return s.(registry.Source), nil
		}})
	// tredeliver is tsrc declared as a source that redelivers (a broker).
	registry.RegisterConnector(&registry.ConnectorSpec{Name: "tredeliver", SourceFields: named, Redelivers: true,
		Source: func(_ context.Context, c registry.Config, _ registry.Env) (registry.Source, error) {
			s, _ := fixtures.Load(c.String("name"))
			return s.(registry.Source), nil
		}})
	registry.RegisterConnector(&registry.ConnectorSpec{Name: "tsink", SinkFields: named,
		Sink: func(_ context.Context, c registry.Config, _ registry.Env) (registry.Sink, error) {
			s, _ := fixtures.Load(c.String("name"))
			return s.(registry.Sink), nil
		}})
}

// fakeSource serves bodies (or endless numbered messages), then EOF, and
// records acks, nacks and the most messages it had outstanding at once.
type fakeSource struct {
	bodies  [][]byte
	endless bool
	hold    bool // after the bodies, wait for ctx instead of returning EOF
	next    atomic.Int64
	mu      sync.Mutex
	acked   map[string]int
	nacked  map[string]int
	out     atomic.Int64 // read, not yet acked or nacked
	maxOut  atomic.Int64
	closed  atomic.Bool
}

func newSource(t *testing.T, name string, bodies ...string) *fakeSource {
	s := &fakeSource{acked: map[string]int{}, nacked: map[string]int{}}
	for _, b := range bodies {
		s.bodies = append(s.bodies, []byte(b))
	}
	fixtures.Store(name, s)
	t.Cleanup(func() { fixtures.Delete(name) })
	return s
}

func (s *fakeSource) Read(ctx context.Context, buf []*message.Message) (int, error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	for n < len(buf) {
		i := s.next.Load()
		if !s.endless && int(i) >= len(s.bodies) {
			if n > 0 {
				break
			}
			if s.hold {
				<-ctx.Done()
				return 0, ctx.Err()
			}
			return 0, io.EOF
		}
		s.next.Add(1)
		body := []byte(`{"n":` + strconv.Itoa(int(i)) + `}`)
		if !s.endless {
			body = s.bodies[i]
		}
		buf[n] = &message.Message{ID: strconv.Itoa(int(i)), Topic: "t", Raw: body, Meta: map[string]string{"src": "fake"}}
		n++
	}
	if o := s.out.Add(int64(n)); o > s.maxOut.Load() {
		s.maxOut.Store(o)
	}
	return n, nil
}

func (s *fakeSource) Ack(m *message.Message) {
	s.out.Add(-1)
	s.mu.Lock()
	s.acked[m.ID]++
	s.mu.Unlock()
}

func (s *fakeSource) Nack(m *message.Message, _ error) {
	s.out.Add(-1)
	s.mu.Lock()
	s.nacked[m.ID]++
	s.mu.Unlock()
}

func (s *fakeSource) Close() error { s.closed.Store(true); return nil }

func (s *fakeSource) counts() (acked, nacked int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, n := range s.acked {
		acked += n
	}
	for _, n := range s.nacked {
		nacked += n
	}
	return acked, nacked
}

// fakeSink records every write; it can fail its first writes and be slow.
type fakeSink struct {
	mu        sync.Mutex
	writes    [][]*message.Message
	failFirst atomic.Int64
	delay     time.Duration
	reject    string // a body containing this fails alone, with a registry.WriteError
	calls     atomic.Int64
	closed    atomic.Bool

	// pipelined: record the messages, call registry.Sent, then wait delay
	// (an acknowledgement), as a Kafka sink does.
	pipelined   bool
	inFlight    atomic.Int64
	maxInFlight atomic.Int64
}

func newSink(t *testing.T, name string) *fakeSink {
	s := &fakeSink{}
	fixtures.Store(name, s)
	t.Cleanup(func() { fixtures.Delete(name) })
	return s
}

func (s *fakeSink) Write(ctx context.Context, msgs []*message.Message) error {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for m := s.maxInFlight.Load(); n > m && !s.maxInFlight.CompareAndSwap(m, n); m = s.maxInFlight.Load() {
	}
	if s.pipelined {
		s.mu.Lock()
		s.writes = append(s.writes, slices.Clone(msgs))
		s.mu.Unlock()
		registry.Sent(ctx)
		time.Sleep(s.delay)
		return nil
	}
	if s.delay > 0 {
		select {
		case <-time.After(s.delay):
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	s.calls.Add(1)
	if s.failFirst.Add(-1) >= 0 {
		return errors.New("sink unavailable")
	}
	var cp []*message.Message
	var failed []int
	for i, m := range msgs {
		if s.reject != "" && strings.Contains(string(m.Body), s.reject) {
			failed = append(failed, i)
			continue
		}
		cp = append(cp, m)
	}
	s.mu.Lock()
	s.writes = append(s.writes, cp)
	s.mu.Unlock()
	if len(failed) > 0 {
		return &registry.WriteError{Failed: failed, Err: errors.New("rejected")}
	}
	return nil
}

func (s *fakeSink) Close() error { s.closed.Store(true); return nil }

// bodies returns every written body, in write order.
func (s *fakeSink) bodies() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, w := range s.writes {
		for _, m := range w {
			out = append(out, string(m.Body))
		}
	}
	return out
}

// writeSizes returns the number of messages of each write, in order.
func (s *fakeSink) writeSizes() []int {
	s.mu.Lock()
	defer s.mu.Unlock()
	var sizes []int
	for _, w := range s.writes {
		sizes = append(sizes, len(w))
	}
	return sizes
}

func (s *fakeSink) messages() []*message.Message {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []*message.Message
	for _, w := range s.writes {
		out = append(out, w...)
	}
	return out
}

// compile compiles a flow file given as text.
func compile(t *testing.T, src string) *compiler.Flow {
	t.Helper()
	f, ds := dsl.Parse("test.yaml", []byte(src), func(string) (string, bool) { return "", false })
	if len(ds) > 0 {
		t.Fatalf("parse: %v", ds)
	}
	flow, ds := compiler.Compile(f)
	if len(ds) > 0 {
		t.Fatalf("compile: %v", ds)
	}
	return flow
}

// runFlow runs a flow to completion (a finite source) and returns its summary.
func runFlow(t *testing.T, src string) runtime.Summary {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	sum, err := runtime.New(compile(t, src), runtime.Options{}).Run(ctx)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	if ctx.Err() != nil {
		t.Fatalf("flow did not finish in time")
	}
	return sum
}

// runUntil runs flow until cond holds, then stops it as a stop signal
// would and returns its summary.
func runUntil(t *testing.T, flow *compiler.Flow, opts runtime.Options, what string, cond func() bool) runtime.Summary {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		sum runtime.Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := runtime.New(flow, opts).Run(ctx)
		done <- result{sum, err}
	}()
	stopped := false
	defer func() { // when the wait fails: the run still ends before the test
		if !stopped {
			cancel()
			<-done
		}
	}()
	poll.Until(t, what, 30*time.Second, cond)
	cancel()
	r := <-done
	stopped = true
	if r.err != nil {
		t.Fatalf("run: %v", r.err)
	}
	return r.sum
}
