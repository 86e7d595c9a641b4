// Package runtime executes a compiled flow in the Broadway shape:
//
//	source -> processors (concurrency, partition lanes) -> batcher -> sink writers
//	                                 \-> dead letter writer (failures)
//
// Every edge is a bounded channel of message chunks with telemetry;
// the source reads only against the processors' open demand. A source
// message is acked once everything derived from it is accepted by a
// sink or filtered; failures go to the dead letter or are nacked.
package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/ratelog"
	"github.com/flowrun/flowrun/registry"
	"github.com/prometheus/client_golang/prometheus"
)

// abandonAfter is how long Run still waits, once the drain has timed out
// and all work is cancelled, for a stage stuck in a call that ignores
// cancellation (a write to a blocked pipe).
const abandonAfter = 5 * time.Second

// Options configure a Pipeline.
type Options struct {
	Logger       *slog.Logger          // nil: slog.Default()
	Metrics      prometheus.Registerer // nil: a new private registry
	Observers    []Observer
	DrainTimeout time.Duration // 0: 30s
	Clock        Clock         // of batch timeouts; nil: RealClock
}

// Summary counts what a run did.
type Summary struct {
	In           int64 // source messages read
	Out          int64 // messages accepted by sinks
	Acked        int64 // source messages acked after delivery
	Filtered     int64 // source messages acked with nothing delivered
	DeadLettered int64
	Nacked       int64 // failed, without a dead letter, and handed back to the source
	Discarded    int64 // failed for good, without a dead letter: acked so the source moves on
	// Lost counts source messages that were not delivered and will not
	// be: discarded ones, nacked ones and, at a drain timeout, unsettled
	// ones, the last two only when the source cannot redeliver.
	Lost         int64
	Elapsed      time.Duration
	DrainTimeout bool // the drain did not finish in time; unacked messages are redelivered if the source can
}

// Undelivered reports whether the run ended with messages neither
// delivered nor settled for good: some were lost, or the drain timed out
// with messages unacknowledged. A CLI exits non-zero for it.
func (s Summary) Undelivered() bool { return s.Lost > 0 || s.DrainTimeout }

// Pipeline runs one compiled flow once.
type Pipeline struct {
	flow    *compiler.Flow
	log     *slog.Logger
	fails   *ratelog.Logger // per-message failure lines, rate-limited
	metrics *metrics
	reg     prometheus.Registerer
	obs     observers
	drain   time.Duration
	clock   Clock

	source  registry.Source
	sinks   []*sinkNode
	dlq     *sinkNode
	dlqEdge *edge           // set when the flow has a dead letter
	budget  *budget         // max_in_flight_bytes
	work    context.Context // cancelled only when the drain times out

	stageStats []stageMetrics // of the per-message stages, in order
	onSettle   []func(*message.Tracker)
	settleFn   func(*message.Tracker)
	outcome    outcomes
	ready      atomic.Bool

	tap         tapSlot     // the attached Tap (SetTap), or nil
	pointsInit  sync.Once   // builds points
	points      []*TapPoint // every tap point, in flow order
	stagePoints []*TapPoint // per step: its output

	in, out, acked, filtered, dead, nacked, discarded, lost atomic.Int64
}

// New prepares a pipeline (metrics, middleware); it opens nothing.
func New(f *compiler.Flow, opts Options) *Pipeline {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
	}
	if opts.DrainTimeout == 0 {
		opts.DrainTimeout = 30 * time.Second
	}
	if opts.Clock == nil {
		opts.Clock = RealClock{}
	}
	p := &Pipeline{flow: f, log: opts.Logger.With("flow", f.Name), reg: opts.Metrics,
		metrics: newMetrics(opts.Metrics), drain: opts.DrainTimeout, clock: opts.Clock}
	p.fails = ratelog.New(p.log, 0, 0)
	if len(opts.Observers) > 0 {
		p.obs = opts.Observers
	}
	p.outcome = p.metrics.outcomes(f.Name)
	p.settleFn = p.settle
	for _, mw := range f.Middleware {
		if mw.OnSettle != nil {
			p.onSettle = append(p.onSettle, mw.OnSettle)
		}
	}
	return p
}

// Progress returns the counts so far, while the pipeline runs (Elapsed
// and DrainTimeout are set only in Run's result).
func (p *Pipeline) Progress() Summary {
	return Summary{In: p.in.Load(), Out: p.out.Load(), Acked: p.acked.Load(), Filtered: p.filtered.Load(),
		DeadLettered: p.dead.Load(), Nacked: p.nacked.Load(), Discarded: p.discarded.Load(), Lost: p.lost.Load()}
}

// Settled is how many source messages are finished: acked, filtered,
// dead-lettered, nacked or discarded.
func (s Summary) Settled() int64 {
	return s.Acked + s.Filtered + s.DeadLettered + s.Nacked + s.Discarded
}

// Ready reports whether the pipeline has opened its connectors and is reading.
func (p *Pipeline) Ready() bool { return p.ready.Load() }

// Run opens the connectors and runs the flow until the source is
// exhausted or ctx is cancelled (SIGTERM); then it drains: no more
// reads, in-flight messages finished and acked, batches flushed, all
// within the drain timeout. It returns an error only for a fatal problem
// (a connector that cannot be opened).
func (p *Pipeline) Run(ctx context.Context) (Summary, error) {
	start := time.Now()
	// work is cancelled only when the drain times out: in-flight writes
	// and retries go on after ctx (the stop signal) is done.
	work, cancelWork := context.WithCancel(registry.WithClock(registry.WithLogger(context.WithoutCancel(ctx), p.log), p.clock.Now))
	defer cancelWork()
	if err := p.open(work); err != nil {
		return Summary{}, errors.Join(err, p.closeAll())
	}

	p.work = work
	stopFailLog := p.fails.Start()
	defer stopFailLog() // a panic's way out; the normal one reports the counts before the summary
	topo := p.build(work)
	var stages, dead sync.WaitGroup
	run := func(wg *sync.WaitGroup, name string, fn func()) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.emit(Event{Kind: EventNodeStart, Node: name})
			fn()
			p.emit(Event{Kind: EventNodeStop, Node: name})
		}()
	}
	for _, s := range topo.sinkWriters {
		run(&stages, s.node.id, s.run)
	}
	if topo.batcher != nil {
		run(&stages, topo.batcher.name, topo.batcher.run)
	}
	run(&stages, "processors", func() { topo.runProcessors(p) })
	if topo.dlqWriter != nil {
		run(&dead, "dead_letter", topo.dlqWriter.run)
	}
	p.ready.Store(true)
	sourceDone := make(chan struct{})
	go func() { // owned: ends when the source loop returns
		defer close(sourceDone)
		topo.readSource(ctx, work, p)
	}()

	drained := make(chan struct{})
	go func() { // owned: ends when every node has finished
		<-sourceDone
		stages.Wait() // nothing settles a message after this
		if p.dlqEdge != nil {
			p.dlqEdge.close()
		}
		dead.Wait()
		close(drained)
	}()

	// The drain (after a stop signal or the end of a finite source) is
	// bounded by the drain timeout either way.
	select {
	case <-drained:
	case <-ctx.Done():
		p.log.Info("stopping: no more reads; finishing in-flight messages", "drain_timeout", p.drain)
	case <-sourceDone:
	}
	timedOut := false
	select {
	case <-drained:
	case <-time.After(p.drain):
		timedOut = true
		p.log.Warn("drain timed out; unacknowledged messages will be redelivered by the source", "drain_timeout", p.drain)
		cancelWork()
		select {
		case <-drained:
		case <-time.After(abandonAfter):
			p.log.Error("a stage did not stop after the drain timeout; giving up on it", "waited", abandonAfter)
		}
	}
	p.ready.Store(false)
	stopFailLog()
	err := p.closeAll()
	sum := p.Progress()
	sum.Elapsed, sum.DrainTimeout = time.Since(start), timedOut
	if timedOut && !p.flow.Source.Spec.Redelivers {
		sum.Lost += sum.In - sum.Settled()
	}
	return sum, err
}

// orderedByPartition reports whether the source asks to keep its
// partitions in order (Kafka).
func (p *Pipeline) orderedByPartition() bool {
	o, ok := p.source.(registry.PartitionOrdered)
	return ok && o.OrderedByPartition()
}

// open constructs the source, sinks and dead letter.
func (p *Pipeline) open(ctx context.Context) error {
	f := p.flow
	env := func(role string) registry.Env {
		return registry.Env{Flow: f.Name, Role: role, Logger: p.log.With("connector", role), Metrics: p.reg,
			MaxInFlight: p.maxInFlight(), Codec: f.Source.Codec}
	}
	src, err := f.Source.Spec.Source(ctx, f.Source.Config, env("source"))
	if err != nil {
		return fmt.Errorf("open source %s: %w", f.Source.Kind, err)
	}
	p.source = src
	for _, c := range f.Sinks {
		s, err := c.Spec.Sink(ctx, c.Config, env(c.Role))
		if err != nil {
			return fmt.Errorf("open sink %s (%s): %w", c.Role, c.Kind, err)
		}
		p.sinks = append(p.sinks, &sinkNode{conn: c, sink: s, id: c.NodeID})
	}
	if c := f.DeadLetter; c != nil {
		s, err := c.Spec.Sink(ctx, c.Config, env("dead_letter"))
		if err != nil {
			return fmt.Errorf("open dead_letter %s: %w", c.Kind, err)
		}
		p.dlq = &sinkNode{conn: c, sink: s, id: c.NodeID}
	}
	return nil
}

// brokerWindow caps, per processor, the messages a broker source is
// asked to hold (its prefetch, max ack pending): max_demand defaults to
// 1024 so that file sources hand over big chunks, but a broker's own
// client buffers what it prefetches below the byte budget, and
// CPUs x 1024 large messages would be far more than a flow can use.
const brokerWindow = 256

// maxInFlight is the most source messages the flow asks its source to
// hold unacked (registry.Env.MaxInFlight).
func (p *Pipeline) maxInFlight() int {
	n := p.flow.Concurrency * min(p.flow.MaxDemand, brokerWindow)
	if b := p.flow.Batch; b != nil {
		// Open batches hold messages unacked up to max_buffered; a source
		// that stopped below that would stall batches until their timeout.
		n += max(b.Plan.MaxBuffered, b.Plan.Size)
	}
	return n
}

func (p *Pipeline) closeAll() error {
	var errs []error
	if p.source != nil {
		errs = append(errs, p.source.Close())
	}
	for _, s := range p.sinks {
		errs = append(errs, s.sink.Close())
	}
	if p.dlq != nil {
		errs = append(errs, p.dlq.sink.Close())
	}
	return errors.Join(errs...)
}

func (p *Pipeline) emit(e Event) {
	if p.obs != nil {
		e.Flow = p.flow.Name
		p.obs.emit(e)
	}
}
