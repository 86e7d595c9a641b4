package flowtest

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strconv"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/flowrun/flowrun/runtime"
	"github.com/prometheus/client_golang/prometheus"
)

// Options configure a test run.
type Options struct {
	Timeout time.Duration // real time one test may take; 0: 30s
	Log     io.Writer     // the flows' log lines (a log stage, failures); nil: discarded
}

// Result is one test's outcome.
type Result struct {
	Suite    *Suite
	Test     *Test
	Failures diag.List // empty: passed
	// Invalid: the test cannot be run as written (an unknown sink, a
	// condition that does not compile), as opposed to a flow that fails it.
	Invalid bool
	Elapsed time.Duration
	// Got is what a completed run produced; nil when the flow did not
	// compile or its run did not complete (RunError), so --update never
	// writes partial outputs as the expectation.
	Got      *Got
	RunError error // the run timed out or got stuck
}

// Passed reports whether the test passed.
func (r *Result) Passed() bool { return len(r.Failures) == 0 }

// Got is what a run of the flow produced.
type Got struct {
	Flow       *compiler.Flow
	Outputs    map[string][]got // by sink name
	DeadLetter []got
	Summary    runtime.Summary
}

// Run runs every test of the suite, one after the other.
func Run(ctx context.Context, s *Suite, opts Options) []*Result {
	var out []*Result
	for _, t := range s.Tests {
		if ctx.Err() != nil { // interrupted: the tests not run are not reported
			break
		}
		start := time.Now()
		r := runTest(ctx, s, t, opts)
		r.Elapsed = time.Since(start)
		out = append(out, r)
	}
	return out
}

func runTest(ctx context.Context, s *Suite, t *Test, opts Options) *Result {
	r := &Result{Suite: s, Test: t}
	flow, ds := compileFlow(s.Flow, t.Env)
	if flow == nil {
		r.Failures = ds
		return r
	}
	msgs, ds := t.messages(flow.Source.Codec)
	if len(ds) > 0 {
		r.Failures, r.Invalid = ds, true
		return r
	}
	conds, ds := checkExpect(t, flow)
	if len(ds) > 0 {
		r.Failures, r.Invalid = ds, true
		return r
	}
	g, err := execute(ctx, flow, msgs, opts)
	if err != nil {
		r.RunError = err
		r.Failures.Add(t.At.Errorf("%v", err))
		return r
	}
	r.Got = g
	r.Failures = compare(t, g, conds)
	return r
}

// compileFlow compiles the flow with the test's environment only, so a
// test gives the same result on every machine.
func compileFlow(file string, env map[string]string) (*compiler.Flow, diag.List) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, diag.List{{Pos: diag.Pos{File: file}, Message: fmt.Sprintf("cannot read the flow under test: %v", err)}}
	}
	f, ds := dsl.Parse(file, src, func(name string) (string, bool) {
		v, ok := env[name]
		return v, ok
	})
	if f == nil {
		return nil, ds
	}
	flow, cds := compiler.Compile(f)
	ds = append(ds, cds...)
	ds.Sort()
	if len(ds) > 0 {
		return nil, ds
	}
	return flow, nil
}

// step is what the test does next: queue messages, or wait.
type step struct {
	msgs   []*message.Message
	wait   time.Duration
	isWait bool
}

// messages builds the test's input messages, encoded with the source's codec.
func (t *Test) messages(codec message.Codec) ([]step, diag.List) {
	var steps []step
	var ds diag.List
	n := 0
	next := func(x *Input, raw []byte) *message.Message {
		n++
		id := x.ID
		if id == "" {
			id = strconv.Itoa(n)
		}
		return &message.Message{ID: id, Key: x.Key, Topic: x.Topic, Meta: x.Meta, Raw: raw}
	}
	for _, x := range t.Input {
		switch {
		case x.IsWait:
			steps = append(steps, step{wait: x.Wait, isWait: true})
		case x.Raw != nil:
			steps = append(steps, step{msgs: []*message.Message{next(x, []byte(*x.Raw))}})
		case x.RawFile != "":
			raw, err := os.ReadFile(x.RawFile)
			if err != nil {
				ds.Add(x.At.Get("raw_file").Errorf("%v", err))
				continue
			}
			steps = append(steps, step{msgs: []*message.Message{next(x, raw)}})
		case x.Payload != nil:
			raw, err := payloadBytes(x.Payload, codec)
			if err != nil {
				ds.Add(x.Payload.Errorf("%v", err))
				continue
			}
			steps = append(steps, step{msgs: []*message.Message{next(x, raw)}})
		default:
			lines, err := fileLines(x.File, codec)
			if err != nil {
				ds.Add(x.At.Get("file").Errorf("%v", err))
				continue
			}
			var ms []*message.Message
			for _, l := range lines {
				ms = append(ms, next(x, l))
			}
			steps = append(steps, step{msgs: ms})
		}
	}
	return steps, ds
}

// payloadBytes is a payload as the source would read it: JSON for the
// json codec, the text itself for text and bytes.
func payloadBytes(n *dsl.Node, codec message.Codec) ([]byte, error) {
	if codec != message.JSON && n.Kind == dsl.Scalar {
		return []byte(n.Value), nil
	}
	return nodeJSON(n)
}

// fileLines reads one message per line; blank lines are skipped for
// json, as the file source does.
func fileLines(path string, codec message.Codec) ([][]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var out [][]byte
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, len(data)+1)
	for sc.Scan() {
		line := bytes.TrimSuffix(sc.Bytes(), []byte("\r"))
		if codec == message.JSON && len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		out = append(out, bytes.Clone(line))
	}
	return out, sc.Err()
}

// execute runs the flow's graph on the test's messages with in-memory
// connectors and a virtual clock.
func execute(ctx context.Context, f *compiler.Flow, steps []step, opts Options) (*Got, error) {
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = 30 * time.Second
	}
	w := &watch{changed: make(chan struct{}), parked: map[*message.Tracker]int{}}
	if f.Batch != nil {
		w.batchNode, w.batchEdge = f.Batch.Name, f.Batch.NodeID
	}
	// The settle hooks run in order: the last one's end is the settle's.
	mws := slices.Clone(f.Middleware)
	for i := len(mws) - 1; i >= 0; i-- {
		if mws[i].OnSettle != nil {
			c := *mws[i]
			c.OnSettle = w.onSettle(c.OnSettle)
			mws[i], w.settles = &c, true
			break
		}
	}
	f.Middleware = mws
	src := newSource(w.notify)
	w.src = src
	g := &Got{Flow: f, Outputs: map[string][]got{}}
	sinks := map[string]*sink{}
	src0 := *f.Source
	src0.Spec = &registry.ConnectorSpec{Name: "test", Redelivers: f.Source.Spec.Redelivers,
		Source: func(context.Context, registry.Config, registry.Env) (registry.Source, error) { return src, nil }}
	f.Source = &src0
	replace := func(c *compiler.Connector) *compiler.Connector {
		s := &sink{}
		sinks[c.Role] = s
		c2 := *c
		c2.Spec = &registry.ConnectorSpec{Name: "test",
			Sink: func(context.Context, registry.Config, registry.Env) (registry.Sink, error) { return s, nil }}
		return &c2
	}
	for i, c := range f.Sinks {
		f.Sinks[i] = replace(c)
	}
	if f.DeadLetter != nil {
		f.DeadLetter = replace(f.DeadLetter)
	}
	logTo := opts.Log
	if logTo == nil {
		logTo = io.Discard
	}
	clock := newVirtualClock()
	p := runtime.New(f, runtime.Options{Logger: slog.New(slog.NewTextHandler(logTo, nil)), Metrics: prometheus.NewRegistry(),
		Observers: []runtime.Observer{w}, Clock: clock, DrainTimeout: timeout})

	stop, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	type ran struct {
		sum runtime.Summary
		err error
	}
	var res ran
	done := make(chan struct{})
	go func() { // owned: ends when the run drains (at the end of input or stop)
		defer close(done)
		res.sum, res.err = p.Run(stop)
	}()
	var feedErr error
	for _, st := range steps {
		if !st.isWait {
			if len(st.msgs) > 0 { // an empty file gives none; add() alone would end the input
				src.add(st.msgs...)
			}
			continue
		}
		if feedErr = w.idle(stop, done); feedErr != nil {
			break
		}
		if feedErr = clock.Advance(stop, st.wait); feedErr != nil {
			break
		}
	}
	src.add() // end of input: the flow drains and Run returns
	<-done
	for _, c := range f.Sinks {
		g.Outputs[c.Role] = sinks[c.Role].received()
	}
	if f.DeadLetter != nil {
		g.DeadLetter = sinks[f.DeadLetter.Role].received()
	}
	g.Summary = res.sum
	switch {
	case res.err != nil:
		return g, res.err
	case ctx.Err() != nil:
		return g, errors.New("interrupted")
	case errors.Is(feedErr, context.DeadlineExceeded):
		return g, fmt.Errorf("a wait could not start within %s of real time: messages before it stayed in the processors, or with dedupe were not settled "+
			"(a middleware waiting for a message that only a later wait would flush from its batch, or a sink write retried for longer?)", timeout)
	case res.sum.DrainTimeout || stop.Err() != nil:
		return g, fmt.Errorf("the flow did not finish within %s of real time (a stage that waits for ever, or a retry longer than --timeout?)", timeout)
	case feedErr != nil:
		return g, feedErr
	}
	return g, nil
}

// RunFiles loads and runs the test files, in order.
func RunFiles(ctx context.Context, files []string, opts Options) *Report {
	start := time.Now()
	r := &Report{}
	for _, file := range files {
		if ctx.Err() != nil {
			break
		}
		fr := &FileReport{File: file}
		if s, ds := Load(file); s == nil {
			fr.Invalid = ds
		} else {
			fr.Results = Run(ctx, s, opts)
		}
		r.Files = append(r.Files, fr)
	}
	r.Interrupted = ctx.Err() != nil
	r.Elapsed = time.Since(start)
	return r
}
