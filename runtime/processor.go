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
			toSink: make([][]*message.Message, len(t.sinkEdges))}
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
	scratch []*message.Message
	toSink  [][]*message.Message
	toBatch []*message.Message
}

func (pr *processor) run() {
	for c := range pr.in.ch {
		pr.in.received(c)
		start := time.Now()
		pr.p.emit(Event{Kind: EventStageStart, Node: "processors", Count: len(c.msgs)})
		for _, m := range c.msgs {
			pr.handle(m)
		}
		pr.forward()
		pr.t.demand.release(len(c.msgs))
		pr.p.emit(Event{Kind: EventStageStop, Node: "processors", Count: len(c.msgs), Duration: time.Since(start)})
	}
}

func (pr *processor) handle(m *message.Message) {
	p, x := pr.p, pr.x
	codec := p.flow.Source.Codec
	var err error
	if p.flow.NeedsPayload {
		err = codec.Decode(m)
	} else {
		err = codec.Validate(m)
	}
	if err != nil {
		p.fail(m, "decode", err, 1)
		return
	}
	x.Attempts, x.Stage = 1, ""
	outs, err := p.handler(x, m, pr.scratch[:0])
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
			p.fail(o, p.sinks[o.Route].id, err, 1)
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

// chainHandler runs the per-message stages in order. The working set
// lives at the tail of out, so a 1:1 stage costs no allocation.
func chainHandler(steps []*compiler.Step, stats []stageMetrics) registry.Handler {
	return func(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
		start := len(out)
		cur := append(out, m)
		t0 := monotonic()
		for i, st := range steps {
			x.Stage = st.Name
			n := len(cur)
			var err error
			for j := start; j < n; j++ {
				if cur, err = st.Step.Apply(x, cur[j], cur); err != nil {
					stats[i].errors.Inc()
					return out, err
				}
			}
			t1 := monotonic()
			stats[i].duration.Observe((t1 - t0).Seconds() / float64(n-start))
			t0 = t1
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
// time.Now (which also reads the wall clock): the handler chain reads it
// once per stage for every message.
func monotonic() time.Duration { return time.Since(clockBase) }
