package runtime

import (
	"log/slog"
	"maps"
	"strconv"

	"github.com/flowrun/flowrun/message"
)

// fail settles m (and every source message it was reduced from) as
// finally failed in stage.
func (p *Pipeline) fail(m *message.Message, stage string, err error, attempts int) {
	if p.work != nil && p.work.Err() != nil {
		// The drain timed out and work was cancelled: this is not the
		// message's failure. Leave it unacked; the source redelivers it.
		return
	}
	p.emit(Event{Kind: EventStageException, Stage: stage, Err: err, Count: 1})
	f := message.Failure{Err: err, Stage: stage, Attempts: attempts}
	m.Trackers(func(t *message.Tracker) { t.Failed(f) })
}

// settle runs once per source message, when nothing derived from it is
// in flight: ack it, or dead-letter it, or nack it.
func (p *Pipeline) settle(t *message.Tracker) {
	if f := t.Failure(); f != nil {
		if p.dlqEdge != nil && p.toDeadLetter(t, f) {
			return
		}
		p.nack(t, f.Stage, f.Err, "message failed; nacked (no dead letter)")
		return
	}
	p.source.Ack(t.Source())
	for _, h := range p.onAck {
		h(t)
	}
	if t.WasDelivered() {
		p.acked.Add(1)
		p.outcome.acked.Inc()
	} else {
		p.filtered.Add(1)
		p.outcome.filtered.Inc()
	}
}

// nack gives t back to its source, which redelivers it if it can, and
// logs why (rate-limited per stage and error kind).
func (p *Pipeline) nack(t *message.Tracker, stage string, err error, why string) {
	p.fails.Log(slog.LevelWarn, failKey("nacked", stage, err), why, "stage", stage, "id", t.Source().ID, "error", err)
	p.source.Nack(t.Source(), err)
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
