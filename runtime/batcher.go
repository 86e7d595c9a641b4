package runtime

import (
	"context"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/prometheus/client_golang/prometheus"
)

// batcher is a batch stage's node: it groups messages per (sink, key
// value) and flushes a group when it reaches size, when its timeout has
// passed since its first message, and at drain.
type batcher struct {
	p       *Pipeline
	name    string
	plan    *registry.BatchPlan
	in      *edge
	outs    []*edge
	work    context.Context
	x       *registry.Exec
	stage   stageMetrics
	sizes   prometheus.Observer
	open    map[batchKey]*openBatch
	pending []*openBatch // by deadline (all share one timeout, so FIFO order is deadline order)
	held    int          // messages in open batches
	early   prometheus.Counter
}

type batchKey struct {
	route int
	key   string
}

type openBatch struct {
	id       batchKey
	keyValue any
	msgs     []*message.Message
	deadline time.Time
	flushed  bool
}

func newBatcher(p *Pipeline, name string, plan *registry.BatchPlan, in *edge, outs []*edge, work context.Context) *batcher {
	return &batcher{p: p, name: name, plan: plan, in: in, outs: outs, work: work,
		x:     registry.NewExec(work, p.flow.Name, p.flow.Source.Codec, p.log),
		stage: p.metrics.stage(p.flow.Name, name),
		sizes: p.metrics.batchSize.WithLabelValues(p.flow.Name, name),
		early: p.metrics.batchEarly.WithLabelValues(p.flow.Name, name),
		open:  map[batchKey]*openBatch{}}
}

func (b *batcher) run() {
	defer func() {
		for _, e := range b.outs {
			e.close()
		}
	}()
	timer := b.p.clock.NewTimer(time.Hour)
	defer timer.Stop()
	added := -1 // messages of the chunk just taken; -1: none
	for {
		b.resetTimer(timer)
		if added >= 0 { // stop once its batches' timeout is set: a virtual clock may move now
			b.p.emit(Event{Kind: EventStageStop, Node: b.name, Count: added})
			added = -1
		}
		select {
		case c, ok := <-b.in.ch:
			if !ok {
				for len(b.pending) > 0 { // drain: flush everything, oldest first
					b.flush(b.pending[0])
				}
				return
			}
			b.in.received(c)
			b.p.emit(Event{Kind: EventStageStart, Node: b.name, Count: len(c.msgs)})
			for _, m := range c.msgs {
				b.add(m)
			}
			added = len(c.msgs)
		case now := <-timer.C():
			for len(b.pending) > 0 && !b.pending[0].deadline.After(now) {
				b.flush(b.pending[0])
			}
		case <-b.p.budget.pressure:
			b.flushAll()
		}
	}
}

func (b *batcher) resetTimer(t Timer) {
	for len(b.pending) > 0 && b.pending[0].flushed {
		b.pending = b.pending[1:]
	}
	if !t.Stop() {
		select {
		case <-t.C():
		default:
		}
	}
	if len(b.pending) > 0 {
		t.Reset(b.pending[0].deadline.Sub(b.p.clock.Now()))
	} else {
		t.Reset(time.Hour)
	}
}

func (b *batcher) add(m *message.Message) {
	id := batchKey{route: m.Route}
	var keyValue any
	if b.plan.Key != nil {
		v, err := b.x.Eval(b.plan.Key, m)
		if err != nil {
			b.stage.errors.Inc()
			b.p.fail(m, b.name, err, 1)
			return
		}
		keyValue = v
		if v != nil {
			id.key = m.Format(v) // an id beyond int64 keeps its digits: no two share a batch
		}
	}
	limit := b.plan.MaxBuffered
	if limit == 0 {
		limit = max(10000, b.plan.Size)
	}
	for b.held >= limit && len(b.pending) > 0 { // many keys: bound memory
		b.early.Inc()
		b.flush(b.pending[0])
	}
	ob := b.open[id]
	if ob == nil {
		ob = &openBatch{id: id, keyValue: keyValue, deadline: b.p.clock.Now().Add(b.plan.Timeout),
			msgs: make([]*message.Message, 0, min(b.plan.Size, 1024))}
		b.open[id] = ob
		b.pending = append(b.pending, ob)
	}
	ob.msgs = append(ob.msgs, m)
	b.held++
	if len(ob.msgs) >= b.plan.Size {
		b.flush(ob)
	}
	if b.p.budget.pressed() {
		b.flushAll()
	}
}

// flushAll flushes every open batch early: reading waits on
// max_in_flight_bytes, and only a flush gives back what they hold.
func (b *batcher) flushAll() {
	for len(b.pending) > 0 {
		if !b.pending[0].flushed {
			b.early.Inc()
		}
		b.flush(b.pending[0])
	}
}

// flush hands a batch to its sink: whole, or reduced to one message.
func (b *batcher) flush(ob *openBatch) {
	if ob.flushed {
		b.pending = b.pending[1:]
		return
	}
	ob.flushed = true
	b.held -= len(ob.msgs)
	delete(b.open, ob.id)
	for len(b.pending) > 0 && b.pending[0].flushed {
		b.pending = b.pending[1:]
	}
	msgs := ob.msgs
	b.sizes.Observe(float64(len(msgs)))
	sink := b.p.sinks[ob.id.route]
	start := time.Now()
	if b.plan.Reduce != nil {
		reduced := b.reduce(ob)
		if reduced == nil {
			return
		}
		msgs = []*message.Message{reduced}
	}
	kept := msgs[:0]
	for _, m := range msgs {
		err := sink.conn.Codec.Encode(m)
		m.ReleaseMembers() // a reduce result is encoded: its members need not stay decoded
		if err != nil {
			b.p.fail(m, sink.id, encodeError(b.name, sink.id, err), 1)
			continue
		}
		kept = append(kept, m)
	}
	b.stage.duration.Observe(time.Since(start).Seconds())
	if len(kept) > 0 {
		_ = b.outs[ob.id.route].send(b.work, chunk{msgs: kept, batch: b.plan.Reduce == nil})
	}
}

// reduce evaluates the reduce expression over the batch's payloads; the
// result carries the trackers of every message in it.
func (b *batcher) reduce(ob *openBatch) *message.Message {
	payloads := make([]any, 0, len(ob.msgs))
	members := ob.msgs[:0:0]
	for _, m := range ob.msgs {
		if err := b.x.Codec.Decode(m); err != nil {
			b.p.fail(m, "decode", err, 1)
			continue
		}
		payloads = append(payloads, m.Payload)
		members = append(members, m)
	}
	if len(members) == 0 {
		return nil
	}
	v, err := b.x.Runner.EvalReduce(b.plan.Reduce, payloads, ob.keyValue)
	if err != nil {
		b.stage.errors.Inc()
		for _, m := range members {
			m.Undecode() // their trackers keep them until failed
			b.p.fail(m, b.name, err, 1)
		}
		return nil
	}
	first := members[0]
	out := &message.Message{ID: first.ID, Key: first.Key, Topic: first.Topic, Route: ob.id.route,
		Payload: v, Decoded: true, Changed: true}
	// The values v took unchanged from members are written as their bytes;
	// the members stay decoded until then (flush releases them).
	out.TakeFrom(members)
	if b.plan.Key != nil {
		out.Key = ob.id.key
	}
	for _, m := range members {
		if m.Tracker != nil {
			out.More = append(out.More, m.Tracker)
		}
		out.More = append(out.More, m.More...)
	}
	return out
}
