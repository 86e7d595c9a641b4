package runtime

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// readSource is the source node: it waits for open demand, reads at most
// that many messages, starts tracking each and hands them to the
// processors. stop ends reading (SIGTERM); work bounds the hand-off.
func (t *topology) readSource(stop, work context.Context, p *Pipeline) {
	defer func() {
		for _, l := range t.lanes {
			l.close()
		}
	}()
	f := p.flow
	x := registry.NewExec(work, f.Name, f.Source.Codec, p.log)
	seed := maphash.MakeSeed()
	retry := time.Duration(0)
	for {
		n, err := t.demand.acquire(stop)
		if err != nil {
			return
		}
		fit, err := p.budget.fit(stop, n)
		if err != nil {
			t.demand.release(n)
			return
		}
		t.demand.release(n - fit)
		n = fit
		p.emit(Event{Kind: EventDemand, Node: "processors", Count: n})
		buf := make([]*message.Message, n)
		k, err := p.source.Read(stop, buf)
		t.demand.release(n - k)
		if k > 0 {
			retry = 0
			p.budget.take(buf[:k])
			t.dispatch(work, p, x, seed, buf[:k])
		}
		switch {
		case err == nil:
		case errors.Is(err, io.EOF):
			p.log.Info("source exhausted; draining")
			return
		case stop.Err() != nil:
			return
		default:
			retry = min(max(2*retry, 100*time.Millisecond), 5*time.Second)
			p.log.Error("source read failed; retrying", "error", err, "backoff", retry)
			select {
			case <-time.After(retry):
			case <-stop.Done():
				return
			}
		}
	}
}

// dispatch starts tracking msgs and sends them to the processors: all
// to the shared lane, or each to the lane of its partition_by value, or
// (a PartitionOrdered source without partition_by) of its partition.
func (t *topology) dispatch(work context.Context, p *Pipeline, x *registry.Exec, seed maphash.Seed, msgs []*message.Message) {
	f := p.flow
	p.in.Add(int64(len(msgs)))
	keep := msgs[:0]
	var lanesOf []int
	if len(t.lanes) > 1 {
		lanesOf = make([]int, 0, len(msgs))
	}
	byPartition := len(t.lanes) > 1 && f.PartitionBy == nil
	// The hash of the last topic seen: a chunk usually has one topic.
	var (
		topic     string
		topicHash uint64
		hashed    bool
	)
	for _, m := range msgs {
		m.Tracker = message.NewTracker(m, p.settleFn)
		if err := readError(m, f.MaxMessageBytes); err != nil {
			p.fail(m, "source", err, 1)
			t.demand.release(1)
			continue
		}
		switch {
		case byPartition:
			if !hashed || m.Topic != topic {
				topic, topicHash, hashed = m.Topic, maphash.String(seed, m.Topic), true
			}
			h := topicHash ^ uint64(m.Partition)*0x9e3779b97f4a7c15
			lanesOf = append(lanesOf, int(h%uint64(len(t.lanes))))
		case f.PartitionBy != nil:
			lane, err := t.lane(x, p, seed, m)
			if err != nil {
				stage := "partition_by"
				var de *registry.DecodeError
				if errors.As(err, &de) {
					stage = "decode"
				}
				p.fail(m, stage, err, 1)
				t.demand.release(1)
				continue
			}
			lanesOf = append(lanesOf, lane)
		}
		keep = append(keep, m)
	}
	if len(keep) == 0 {
		return
	}
	if len(t.lanes) == 1 {
		_ = t.lanes[0].send(work, chunk{msgs: keep})
		return
	}
	counts := make([]int, len(t.lanes))
	for _, l := range lanesOf {
		counts[l]++
	}
	per := make([][]*message.Message, len(t.lanes))
	for i, n := range counts {
		if n > 0 {
			per[i] = make([]*message.Message, 0, n)
		}
	}
	for i, m := range keep {
		per[lanesOf[i]] = append(per[lanesOf[i]], m)
	}
	for i, ms := range per {
		if len(ms) > 0 {
			_ = t.lanes[i].send(work, chunk{msgs: ms})
		}
	}
}

// lane hashes the partition_by value of m to a processor.
func (t *topology) lane(x *registry.Exec, p *Pipeline, seed maphash.Seed, m *message.Message) (int, error) {
	if p.flow.NeedsPayload {
		if err := x.Codec.DecodeFields(m, p.flow.PayloadFields); err != nil {
			return 0, &registry.DecodeError{Err: err}
		}
	}
	key, err := x.EvalString(p.flow.PartitionBy, m)
	if err != nil {
		return 0, err
	}
	return int(maphash.String(seed, key) % uint64(len(t.lanes))), nil
}

// readError is why m, as read, cannot be handled: the source could not
// read it whole (Message.Err), or it is over max_message_bytes.
func readError(m *message.Message, maxBytes int) error {
	if m.Err != nil {
		return m.Err
	}
	if len(m.Raw) > maxBytes {
		return fmt.Errorf("message of %d bytes is over max_message_bytes (%d)", len(m.Raw), maxBytes)
	}
	return nil
}
