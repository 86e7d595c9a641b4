package runtime

import (
	"context"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/prometheus/client_golang/prometheus"
)

// chunk is the unit that crosses an edge: several messages per channel
// operation keep the per-message cost of a hop small. batch marks a
// flushed batch that the sink must write in one call.
type chunk struct {
	msgs  []*message.Message
	batch bool
}

// edge is a bounded channel between two nodes of the graph, with its
// telemetry. Its bound is in chunks; the demand credits bound messages.
type edge struct {
	ch       chan chunk
	from, to string
	flow     string
	messages prometheus.Counter
	buffered prometheus.Gauge
	blocked  prometheus.Counter
	obs      observers
	tap      *tapSlot  // the pipeline's, or noTap
	point    *TapPoint // this edge, for the tap
}

// noTap is the tap slot of an edge not attached to a pipeline's.
var noTap tapSlot

func newEdge(m *metrics, obs observers, flow, from, to string, chunks, capacityMsgs int) *edge {
	m.edgeCapacity.WithLabelValues(flow, from, to).Set(float64(capacityMsgs))
	return &edge{
		ch:   make(chan chunk, chunks),
		from: from, to: to, flow: flow,
		messages: m.edgeMessages.WithLabelValues(flow, from, to),
		buffered: m.edgeBuffered.WithLabelValues(flow, from, to),
		blocked:  m.edgeBlocked.WithLabelValues(flow, from, to),
		obs:      obs,
		tap:      &noTap,
	}
}

// send puts c on the edge, waiting while it is full (backpressure) and
// counting the time waited. It fails only when ctx is done.
func (e *edge) send(ctx context.Context, c chunk) error {
	n := float64(len(c.msgs))
	if t := e.tap.load(); t != nil { // the one check a flow without a tap pays
		t.Sample(e.point, c.msgs)
	}
	if e.obs != nil { // before the send: after it, the receiver owns the messages
		e.obs.emit(Event{Kind: EventEnqueued, Flow: e.flow, From: e.from, To: e.to, Count: len(c.msgs), Messages: c.msgs})
	}
	e.buffered.Add(n)
	select {
	case e.ch <- c:
	default:
		if e.obs != nil {
			e.obs.emit(Event{Kind: EventBufferFull, Flow: e.flow, From: e.from, To: e.to, Count: len(c.msgs)})
		}
		start := time.Now()
		select {
		case e.ch <- c:
			e.blocked.Add(time.Since(start).Seconds())
		case <-ctx.Done():
			e.buffered.Sub(n)
			return ctx.Err()
		}
	}
	e.messages.Add(n)
	return nil
}

// received accounts for a chunk taken off the edge.
func (e *edge) received(c chunk) { e.buffered.Sub(float64(len(c.msgs))) }

func (e *edge) close() { close(e.ch) }
