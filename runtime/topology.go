package runtime

import (
	"context"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/middleware"
	"github.com/flowrun/flowrun/registry"
)

// topology is the running graph: edges and the goroutines between them.
type topology struct {
	demand      *demand
	lanes       []*edge // source -> processors: one shared edge, or one per partition lane
	sinkEdges   []*edge // processors (or batcher) -> sink i
	batchEdge   *edge   // processors -> batcher
	batcher     *batcher
	sinkWriters []*sinkWriter
	dlqWriter   *dlqWriter
	work        context.Context
}

// build wires edges and nodes for the compiled flow.
func (p *Pipeline) build(work context.Context) *topology {
	f := p.flow
	m := p.metrics
	t := &topology{work: work}
	t.demand = newDemand(f.Concurrency, f.MaxDemand, m.stageDemand.WithLabelValues(f.Name, "processors"))
	p.budget = newBudget(int64(f.MaxInFlightBytes), int64(f.MaxMessageBytes), m.inFlightBytes.WithLabelValues(f.Name),
		func(held int64) { p.emit(Event{Kind: EventBudgetFull, Node: compiler.SourceNodeID, Bytes: held}) })
	lanes := 1
	if f.PartitionBy != nil || p.orderedByPartition() {
		lanes = f.Concurrency
	}
	for i := 0; i < lanes; i++ {
		// Every lane sets the same series: the credits bound all lanes together.
		t.lanes = append(t.lanes, newEdge(m, p.obs, f.Name, "source", "processors", 2*f.Concurrency/lanes+2, f.Concurrency*f.MaxDemand))
	}

	down, chunkMax := downChunks(f.Concurrency, f.MaxDemand), max(f.MaxDemand/2, 1)
	upstream := "processors"
	if f.Batch != nil {
		upstream = f.Batch.NodeID
	}
	for _, s := range p.sinks {
		e := newEdge(m, p.obs, f.Name, upstream, s.id, down, down*chunkMax)
		t.sinkEdges = append(t.sinkEdges, e)
		w := &sinkWriter{p: p, node: s, in: e, stage: m.stage(f.Name, s.id), work: work,
			merge: f.Batch == nil || f.Batch.Plan.Reduce != nil}
		w.write = p.writeChain(w.counting(s.sink))
		t.sinkWriters = append(t.sinkWriters, w)
	}
	if f.Batch != nil {
		plan := f.Batch.Plan
		t.batchEdge = newEdge(m, p.obs, f.Name, "processors", f.Batch.NodeID, down, down*chunkMax)
		t.batcher = newBatcher(p, f.Batch.Name, plan, t.batchEdge, t.sinkEdges, work)
	}
	if p.dlq != nil {
		e := newEdge(m, p.obs, f.Name, "processors", p.dlq.id, 1024, 1024)
		p.dlqEdge = e
		t.dlqWriter = &dlqWriter{p: p, node: p.dlq, in: e, write: p.writeChain(p.dlq.sink.Write), work: work}
	}
	p.stageStats = make([]stageMetrics, len(f.Steps))
	for i, s := range f.Steps {
		p.stageStats[i] = p.metrics.stage(f.Name, s.Name)
	}
	for _, e := range append(append(t.lanes[:len(t.lanes):len(t.lanes)], t.sinkEdges...), t.batchEdge, p.dlqEdge) {
		if e != nil {
			e.tap, e.point = &p.tap, p.pointOf(e.from, e.to)
		}
	}
	p.pointsOnce()
	return t
}

// handlerChain composes the middleware around the stages (first listed
// outermost, panic recovery innermost) for one processor, whose stage
// timings clock keeps. State that spans messages lives in each built
// Middleware, so every processor's chain shares it.
func (p *Pipeline) handlerChain(clock *stageClock) registry.Handler {
	h, _ := middleware.Chain(stageNamed(p.flow.Middleware), chainHandler(p.flow.Steps, p.stageStats, clock, p.stagePoints), nil)
	return h
}

// stageNamed makes each middleware set Exec.Stage to its own name when
// it runs, so a failure inside it (a dedupe key, an interrupted wait) is
// dead-lettered with error_stage naming it.
func stageNamed(ms []*registry.Middleware) []*registry.Middleware {
	out := make([]*registry.Middleware, len(ms))
	for i, mw := range ms {
		named := *mw
		if wrap, name := mw.Wrap, mw.Name; wrap != nil {
			named.Wrap = func(next registry.Handler) registry.Handler {
				inner := wrap(next)
				return func(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
					x.Stage = name
					return inner(x, m, out)
				}
			}
		}
		out[i] = &named
	}
	return out
}

// writeChain wraps one sink's Write in the write middleware (retry,
// timeout, circuit breaker) and panic recovery.
func (p *Pipeline) writeChain(base registry.Writer) registry.Writer {
	_, w := middleware.Chain(p.flow.Middleware, nil, base)
	return w
}

// downChunks is the capacity, in chunks, of the edges after the
// processors: 2 per processor plus 2, as long as chunks are small. As
// the demand lets chunks grow, fewer: the edges buffer about as many
// messages as that many chunks of 64 would, and at least 2 chunks.
func downChunks(procs, maxDemand int) int {
	n := 2*procs + 2
	return max(2, min(n, n*64/max(maxDemand/2, 1)))
}
