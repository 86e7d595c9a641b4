package runtime

import (
	"errors"
	"sync"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// runProcessors runs the pool and, once every processor has finished,
// closes the edges downstream of it.
func (t *topology) runProcessors(p *Pipeline) {
	var wg sync.WaitGroup
	for i := 0; i < p.flow.Concurrency; i++ {
		in := t.lanes[0]
		if len(t.lanes) > 1 {
			in = t.lanes[i]
		}
		pr := &processor{p: p, t: t, in: in,
			x:      registry.NewExec(t.work, p.flow.Name, p.flow.Source.Codec, p.log),
			clock:  newStageClock(len(p.stageStats)),
			toSink: make([][]*message.Message, len(t.sinkEdges))}
		pr.handler = p.handlerChain(pr.clock)
		pr.x.Flush = pr.forward
		wg.Add(1)
		go func() {
			defer wg.Done()
			pr.run()
		}()
	}
	wg.Wait()
	if t.batchEdge != nil {
		t.batchEdge.close()
		return
	}
	for _, e := range t.sinkEdges {
		e.close()
	}
}

// processor runs the handler chain on the messages of its lane.
type processor struct {
	p       *Pipeline
	t       *topology
	in      *edge
	x       *registry.Exec
	handler registry.Handler // the middleware and stages, timed on clock
	clock   *stageClock
	scratch []*message.Message
	toSink  [][]*message.Message
	toBatch []*message.Message
}

func (pr *processor) run() {
	for c := range pr.in.ch {
		pr.in.received(c)
		pr.clock.tap = pr.p.tap.load() // once per chunk: the stages see it through the clock
		start := time.Now()
		pr.p.emit(Event{Kind: EventStageStart, Node: compiler.ProcessorsNodeID, Count: len(c.msgs)})
		for _, m := range c.msgs {
			pr.handle(m)
		}
		pr.forward()
		pr.clock.flush(pr.p.stageStats)
		pr.t.demand.done(len(c.msgs), len(pr.in.ch) == 0)
		pr.p.emit(Event{Kind: EventStageStop, Node: compiler.ProcessorsNodeID, Count: len(c.msgs), Duration: time.Since(start)})
	}
}

func (pr *processor) handle(m *message.Message) {
	p, x := pr.p, pr.x
	codec := p.flow.Source.Codec
	var err error
	if p.flow.NeedsPayload {
		err = codec.DecodeFields(m, p.flow.PayloadFields) // whole when PayloadFields is nil
	} else {
		err = codec.Validate(m)
	}
	if err != nil { // a DecodeError, as in stages: the source may tell the sender (400)
		p.fail(m, "decode", &registry.DecodeError{Err: err}, 1)
		return
	}
	x.Attempts, x.Stage = 1, ""
	outs, err := pr.handler(x, m, pr.scratch[:0])
	defer func() { // reuse the array, but do not keep its messages alive
		clear(outs)
		pr.scratch = outs[:0]
	}()
	if err != nil {
		stage := x.Stage
		var de *registry.DecodeError
		if errors.As(err, &de) {
			stage = "decode"
		}
		p.fail(m, stage, err, x.Attempts)
		return
	}
	switch len(outs) {
	case 0:
		m.Tracker.Dropped()
		m.Undecode() // its source's message block may outlive it: do not keep its payload alive with it
		return
	case 1:
	default:
		m.Tracker.Add(len(outs) - 1) // before any child can settle
	}
	for _, o := range outs {
		if pr.t.batchEdge != nil {
			pr.toBatch = append(pr.toBatch, o)
			continue
		}
		if err := p.sinks[o.Route].conn.Codec.Encode(o); err != nil {
			id := p.sinks[o.Route].id
			p.fail(o, id, encodeError(p.lastStage(), id, err), 1)
			continue
		}
		pr.toSink[o.Route] = append(pr.toSink[o.Route], o)
	}
}

// forward sends what the last chunk produced downstream, one chunk per edge.
func (pr *processor) forward() {
	if len(pr.toBatch) > 0 {
		_ = pr.t.batchEdge.send(pr.t.work, chunk{msgs: pr.toBatch})
		pr.toBatch = nil
	}
	for i, msgs := range pr.toSink {
		if len(msgs) > 0 {
			_ = pr.t.sinkEdges[i].send(pr.t.work, chunk{msgs: msgs})
			pr.toSink[i] = nil
		}
	}
}

// timingSample is how many messages share one timing: each processor
// times a stage on the first message that reaches it and then on one in
// timingSample, and counts each duration for the messages since, so a
// stage's histogram still counts every message (processors flush what
// is not counted yet after each chunk).
const timingSample = 8

// stageClock is a processor's stage timing state; its handler chain
// holds it, so no other goroutine and no stage sees it.
type stageClock struct {
	untimed []uint64  // per stage: messages that reached it since it was last observed
	last    []float64 // per stage: its last timed seconds per message
	timed   []bool    // per stage: timed at least once
	tap     Tap       // attached for the current chunk, or nil
}

func newStageClock(stages int) *stageClock {
	return &stageClock{untimed: make([]uint64, stages), last: make([]float64, stages), timed: make([]bool, stages)}
}

// flush counts the untimed messages of each stage at its last duration.
func (c *stageClock) flush(stats []stageMetrics) {
	for i, n := range c.untimed {
		if n > 0 {
			stats[i].duration.ObserveN(c.last[i], n)
			c.untimed[i] = 0
		}
	}
}

// chainHandler runs the per-message stages in order. The working set
// lives at the tail of out, so a 1:1 stage costs no allocation.
func chainHandler(steps []*compiler.Step, stats []stageMetrics, clock *stageClock, points []*TapPoint) registry.Handler {
	return func(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
		start := len(out)
		cur := append(out, m)
		for i, st := range steps {
			x.Stage = st.Name
			n := len(cur)
			var t0 time.Duration
			timed := !clock.timed[i] || clock.untimed[i]+uint64(n-start) >= timingSample
			if timed {
				t0 = monotonic()
			}
			var err error
			for j := start; j < n; j++ {
				if cur, err = st.Step.Apply(x, cur[j], cur); err != nil {
					stats[i].errors.Inc()
					return out, err
				}
			}
			if clock.tap != nil && len(cur) > n {
				clock.tap.Sample(points[i], cur[n:])
			}
			if timed {
				clock.last[i] = (monotonic() - t0).Seconds() / float64(n-start)
				clock.timed[i] = true
				stats[i].duration.ObserveN(clock.last[i], clock.untimed[i]+uint64(n-start))
				clock.untimed[i] = 0
			} else {
				clock.untimed[i] += uint64(n - start)
			}
			k := copy(cur[start:], cur[n:])
			cur = cur[:start+k]
			if k == 0 {
				break
			}
		}
		return cur, nil
	}
}

// clockBase anchors monotonic.
var clockBase = time.Now()

// monotonic reads only the monotonic clock, at half the cost of
// time.Now (which also reads the wall clock), for the stage timings.
func monotonic() time.Duration { return time.Since(clockBase) }
