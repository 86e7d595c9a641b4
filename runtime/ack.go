package runtime

import (
	"context"
	"errors"
	"log/slog"
	"maps"
	"strconv"

	"github.com/cenkalti/backoff/v4"
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// fail settles m (and every source message it was reduced from) as
// finally failed in stage. The failure is permanent, since handling the
// same message again fails the same way (decoding, expressions and
// encoding depend on the message alone), unless a context ended it or
// the time budget did: a busy host may give the next try its second.
func (p *Pipeline) fail(m *message.Message, stage string, err error, attempts int) {
	transient := errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, expression.ErrTimeBudget)
	p.failAs(m, message.Failure{Err: err, Stage: stage, Attempts: attempts, Permanent: !transient})
}

// failWrite settles m as failed by a sink write, which a later write may
// do better unless the sink said it is permanent (backoff.Permanent).
func (p *Pipeline) failWrite(m *message.Message, sink string, err error, attempts int) {
	var permanent *backoff.PermanentError
	p.failAs(m, message.Failure{Err: err, Stage: sink, Attempts: attempts, Permanent: errors.As(err, &permanent)})
}

func (p *Pipeline) failAs(m *message.Message, f message.Failure) {
	if p.work != nil && p.work.Err() != nil {
		// The drain timed out and work was cancelled: this is not the
		// message's failure. Leave it unacked; the source redelivers it.
		return
	}
	p.emit(Event{Kind: EventStageException, Stage: f.Stage, Err: f.Err, Count: 1})
	m.Trackers(func(t *message.Tracker) { t.Failed(f) })
}

// settle runs once per source message, when nothing derived from it is
// in flight: ack it, or dead-letter it, or discard or nack it.
func (p *Pipeline) settle(t *message.Tracker) {
	switch f := t.Failure(); {
	case f == nil:
		p.source.Ack(t.Source())
		p.budget.release(t.Source())
		if t.WasDelivered() {
			p.acked.Add(1)
			p.outcome.acked.Inc()
		} else {
			p.filtered.Add(1)
			p.outcome.filtered.Inc()
		}
	case p.dlqEdge != nil:
		if !p.toDeadLetter(t, f) { // the drain timed out: leave it to redelivery
			p.nack(t, f)
		}
	case f.Permanent:
		p.discard(t, f)
	default:
		p.nack(t, f)
	}
	for _, h := range p.onSettle {
		h(t)
	}
}

// discard settles a message that failed for good and has no dead letter
// to go to. Redelivering it would fail it again, forever, and hold up
// its partition: it is logged, counted as lost and acked (or rejected,
// for a source that can say no to its sender), and the source moves on.
func (p *Pipeline) discard(t *message.Tracker, f *message.Failure) {
	p.fails.Log(slog.LevelWarn, failKey("discarded", f.Stage, f.Err),
		"message failed for good and the flow has no dead_letter: discarded, counted as lost",
		"stage", f.Stage, "id", t.Source().ID, "error", f.Err)
	if r, ok := p.source.(registry.Rejecter); ok {
		r.Reject(t.Source(), f.Err)
	} else {
		p.source.Ack(t.Source())
	}
	p.budget.release(t.Source())
	p.discarded.Add(1)
	p.lost.Add(1)
	p.outcome.discarded.Inc()
}

// nack gives t back to its source, which redelivers it if it can (else
// it is lost, and counted so), and logs why, rate-limited per stage and
// error kind.
func (p *Pipeline) nack(t *message.Tracker, f *message.Failure) {
	err := f.Err
	if p.flow.Source.Spec.Redelivers {
		p.fails.Log(slog.LevelWarn, failKey("nacked", f.Stage, err), "message failed; nacked so the source can redeliver it",
			"stage", f.Stage, "id", t.Source().ID, "error", err)
	} else {
		p.fails.Log(slog.LevelWarn, failKey("lost", f.Stage, err), "message failed and the source cannot redeliver it: lost",
			"stage", f.Stage, "id", t.Source().ID, "error", err)
		p.lost.Add(1)
	}
	p.source.Nack(t.Source(), err)
	p.budget.release(t.Source())
	p.nacked.Add(1)
	p.outcome.nacked.Inc()
}

// toDeadLetter queues the original message, bytes intact, with the
// failure in its metadata. False when the queue is closed (drain timeout).
func (p *Pipeline) toDeadLetter(t *message.Tracker, f *message.Failure) bool {
	src := t.Original()
	meta := maps.Clone(src.Meta)
	if meta == nil {
		meta = make(map[string]string, 4)
	}
	meta["error"] = f.Err.Error()
	meta["error_stage"] = f.Stage
	meta["flow"] = p.flow.Name
	meta["attempts"] = strconv.Itoa(f.Attempts)
	dm := &message.Message{ID: src.ID, Key: src.Key, Topic: src.Topic, Meta: meta,
		Raw: src.Raw, Body: src.Raw, Partition: src.Partition, Offset: src.Offset, Tracker: t}
	return p.dlqEdge.send(p.work, chunk{msgs: []*message.Message{dm}}) == nil
}
