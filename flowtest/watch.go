package flowtest

import (
	"context"
	"errors"
	"sync"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/runtime"
)

// watch follows the run's events to know when everything the test has
// given so far is as far as it can go without time passing: read,
// through the processors, and added to the open batches. Only then may
// the virtual clock move, or a batch would miss messages sent before it.
type watch struct {
	src                  *source
	batchNode, batchEdge string

	mu                 sync.Mutex
	toProc, procDone   int64
	toBatch, batchDone int64
	changed            chan struct{} // closed and replaced at every change

	// With middleware that act when a message settles (dedupe starts
	// its ttl), every message read must also be settled or held in an
	// open batch before the clock moves, or the ttl would start late.
	settles       bool
	read, settled int64
	parked        map[*message.Tracker]int // source messages in open batches
}

func (w *watch) Observe(e runtime.Event) {
	w.mu.Lock()
	switch {
	case e.Kind == runtime.EventStageStop && e.Node == compiler.ProcessorsNodeID:
		w.procDone += int64(e.Count)
	case e.Kind == runtime.EventEnqueued && e.To == compiler.ProcessorsNodeID:
		w.toProc += int64(e.Count)
		w.read += int64(len(e.Messages))
	case e.Kind == runtime.EventEnqueued && w.batchEdge != "" && e.To == w.batchEdge:
		w.toBatch += int64(e.Count)
		w.park(e.Messages, 1)
	case e.Kind == runtime.EventEnqueued && w.batchEdge != "" && e.From == w.batchEdge: // a flush
		w.park(e.Messages, -1)
		w.mu.Unlock()
		return
	case e.Kind == runtime.EventStageStop && w.batchNode != "" && e.Node == w.batchNode:
		w.batchDone += int64(e.Count)
	default:
		w.mu.Unlock()
		return
	}
	w.broadcast()
	w.mu.Unlock()
}

// park counts the source messages of msgs into (+1) or out of (-1) the
// open batches; the caller holds mu.
func (w *watch) park(msgs []*message.Message, by int) {
	if !w.settles {
		return
	}
	for _, m := range msgs {
		m.Trackers(func(t *message.Tracker) {
			if w.parked[t] += by; w.parked[t] <= 0 {
				delete(w.parked, t)
			}
		})
	}
}

// onSettle wraps a middleware's OnSettle to count settled messages.
func (w *watch) onSettle(next func(*message.Tracker)) func(*message.Tracker) {
	return func(t *message.Tracker) {
		next(t)
		w.mu.Lock()
		w.settled++
		delete(w.parked, t)
		w.broadcast()
		w.mu.Unlock()
	}
}

func (w *watch) notify() {
	w.mu.Lock()
	w.broadcast()
	w.mu.Unlock()
}

// broadcast wakes waiters; the caller holds mu.
func (w *watch) broadcast() {
	close(w.changed)
	w.changed = make(chan struct{})
}

// idle waits until the graph holds nothing in motion: the source waits
// for input, every chunk it sent was handled by the processors and every
// chunk they sent to the batcher was added to a batch.
func (w *watch) idle(ctx context.Context, done <-chan struct{}) error {
	for {
		w.mu.Lock()
		changed := w.changed
		quiet := w.toProc == w.procDone && w.toBatch == w.batchDone &&
			(!w.settles || w.settled+int64(len(w.parked)) == w.read)
		w.mu.Unlock()
		if quiet && w.src.waiting() {
			return nil
		}
		select {
		case <-changed:
		case <-done:
			return errors.New("the flow stopped before its input ended")
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}
