package runtime

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// maxWrite bounds how many messages one merged sink write carries.
const maxWrite = 4096

// writesInFlight is how many writes of one sink may wait for their
// acknowledgements at once. Only a sink that calls registry.Sent gets
// more than one; each holds one merged write (at most maxWrite messages
// or one batch), so what a sink holds stays bounded.
const writesInFlight = 4

type sinkNode struct {
	conn *compiler.Connector
	sink registry.Sink
	id   string
}

// sinkWriter is a sink node: it writes what reaches its edge and
// settles the messages it wrote.
type sinkWriter struct {
	p     *Pipeline
	node  *sinkNode
	in    *edge
	write registry.Writer
	stage stageMetrics
	work  context.Context
	merge bool // merge waiting chunks into one write (not for batches)

	// turn is held from taking a chunk off the edge until the sink has
	// queued it (registry.Sent) or, for other sinks, until its messages
	// are settled: writes reach the sink in edge order, and only the
	// acknowledgement waits of Sent-calling sinks overlap.
	turn sync.Mutex
}

// writeCall is the state of one write, carried in its context.
type writeCall struct {
	attempts int       // write attempts, counted innermost (under retry)
	release  sync.Once // gives up the turn: at registry.Sent, or once settled
}

type writeCallKey struct{}

func (w *sinkWriter) run() {
	var writers sync.WaitGroup
	for range writesInFlight {
		writers.Go(w.writeLoop)
	}
	writers.Wait()
}

func (w *sinkWriter) writeLoop() {
	for {
		w.turn.Lock()
		c, ok := <-w.in.ch
		if !ok {
			w.turn.Unlock()
			return
		}
		w.in.received(c)
		msgs := c.msgs
		if w.merge {
			msgs = w.gather(msgs)
		}
		call := &writeCall{}
		ctx := registry.WithSent(context.WithValue(w.work, writeCallKey{}, call), func() { call.release.Do(w.turn.Unlock) })
		w.p.emit(Event{Kind: EventStageStart, Node: w.node.id, Count: len(msgs)})
		start := time.Now()
		err := w.write(ctx, msgs)
		took := time.Since(start)
		w.stage.duration.Observe(took.Seconds())
		w.p.emit(Event{Kind: EventStageStop, Node: w.node.id, Count: len(msgs), Duration: took, Err: err})
		// A sink that did not call Sent keeps the turn until its messages
		// are settled: one write's messages held at a time, as ever.
		w.settle(msgs, err, call.attempts)
		call.release.Do(w.turn.Unlock)
	}
}

// settle settles the messages of one write: all delivered, all failed,
// or, for a registry.WriteError, failed only those it names.
func (w *sinkWriter) settle(msgs []*message.Message, err error, attempts int) {
	if err == nil {
		w.p.out.Add(int64(len(msgs)))
		for _, m := range msgs {
			m.Trackers((*message.Tracker).Delivered)
		}
		return
	}
	failed, cause, count := failedOf(err, len(msgs)), err, len(msgs)
	var partial *registry.WriteError
	if errors.As(err, &partial) {
		cause, count = partial.Err, len(partial.Failed)
	}
	w.p.fails.Log(slog.LevelError, failKey("sink", w.node.id, cause), "sink write failed for good", "sink", w.node.id,
		"messages", len(msgs), "failed", count, "attempts", attempts, "error", cause)
	for i, m := range msgs {
		if failed[i] {
			w.p.failWrite(m, w.node.id, cause, max(attempts, 1))
			continue
		}
		w.p.out.Add(1)
		m.Trackers((*message.Tracker).Delivered)
	}
}

// gather appends chunks already waiting on the edge, so a busy sink
// writes big batches and an idle one writes at once. It takes at most
// the edge's capacity, so what a sink holds stays bounded.
func (w *sinkWriter) gather(msgs []*message.Message) []*message.Message {
	for i := 0; i < cap(w.in.ch) && len(msgs) < maxWrite; i++ {
		select {
		case c, ok := <-w.in.ch:
			if !ok {
				return msgs
			}
			w.in.received(c)
			msgs = append(msgs, c.msgs...)
		default:
			return msgs
		}
	}
	return msgs
}

// counting wraps a sink's Write to count attempts and errors; it is the
// innermost writer, under retry.
func (w *sinkWriter) counting(s registry.Sink) registry.Writer {
	return func(ctx context.Context, msgs []*message.Message) error {
		if call, ok := ctx.Value(writeCallKey{}).(*writeCall); ok {
			call.attempts++
		}
		err := s.Write(ctx, msgs)
		if err != nil {
			w.stage.errors.Inc()
		}
		return err
	}
}

// dlqWriter writes failed originals to the dead letter sink, then acks
// them at the source (or nacks them when even that fails).
type dlqWriter struct {
	p     *Pipeline
	node  *sinkNode
	in    *edge
	write registry.Writer
	work  context.Context
}

func (w *dlqWriter) run() {
	for c := range w.in.ch {
		w.in.received(c)
		msgs := c.msgs
		for len(msgs) < maxWrite {
			more, ok := w.next()
			if !ok {
				break
			}
			msgs = append(msgs, more...)
		}
		err := w.write(w.work, msgs)
		failed := failedOf(err, len(msgs))
		for i, m := range msgs {
			t := m.Tracker
			if failed[i] {
				w.p.nack(t, &message.Failure{Err: fmt.Errorf("dead letter write: %w", err), Stage: w.node.id})
				continue
			}
			if f := t.Failure(); f != nil {
				w.p.fails.Log(slog.LevelWarn, failKey("dead_lettered", f.Stage, f.Err), "message dead-lettered",
					"stage", f.Stage, "id", t.Source().ID, "error", f.Err)
			}
			w.p.source.Ack(t.Source())
			w.p.budget.release(t.Source())
			w.p.dead.Add(1)
			w.p.outcome.deadLettered.Inc()
		}
	}
}

// failedOf says which of n messages a write's error failed: none for
// nil, those a registry.WriteError names, else all of them.
func failedOf(err error, n int) []bool {
	failed := make([]bool, n)
	var partial *registry.WriteError
	switch {
	case err == nil:
	case errors.As(err, &partial):
		for _, i := range partial.Failed {
			if i >= 0 && i < n {
				failed[i] = true
			}
		}
	default:
		for i := range failed {
			failed[i] = true
		}
	}
	return failed
}

func (w *dlqWriter) next() ([]*message.Message, bool) {
	select {
	case c, ok := <-w.in.ch:
		if ok {
			w.in.received(c)
		}
		return c.msgs, ok
	default:
		return nil, false
	}
}
