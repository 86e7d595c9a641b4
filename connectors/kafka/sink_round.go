package kafka

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/registry"
)

// batch is the records of one partition that go in one record batch.
type batch struct {
	topicPartition
	idx   []int // records, in write order
	bytes int   // batchOverhead and recordSize of each
}

// topicPartition is one partition of one topic.
type topicPartition struct {
	topic     string
	partition int32
}

// where names tp in errors: the partition alone when the topic is fixed.
func (s *sink) where(tp topicPartition) string {
	if s.topicOf == nil {
		return fmt.Sprintf("partition %d", tp.partition)
	}
	return fmt.Sprintf("topic %s partition %d", tp.topic, tp.partition)
}

// call is one produce request to one broker.
type call struct {
	broker  *sarama.Broker
	gen     uint64 // of the broker's connection when sent
	batches []*batch
	bytes   int
	res     *sarama.ProduceResponse // set by the callback
	err     error
}

// setFailing records whether partition p's last batch failed in a way
// worth retrying (it is then probed, see round).
func (s *sink) setFailing(p topicPartition, failing bool) {
	s.failingMu.Lock()
	defer s.failingMu.Unlock()
	if !failing {
		delete(s.failing, p)
		return
	}
	if s.failing == nil {
		s.failing = map[topicPartition]bool{}
	}
	s.failing[p] = true
}

func (s *sink) isFailing(p topicPartition) bool {
	s.failingMu.Lock()
	defer s.failingMu.Unlock()
	return s.failing[p]
}

// errUnanswered marks a record sent in this round whose answer has not come.
var errUnanswered = errors.New("no answer from the broker yet")

// round sends the records todo (indexes, in order) and waits for the
// brokers' answers. It sets errs of each and returns those worth sending
// again, and whether metadata should be refreshed first.
//
// A partition that failed last time (refused with a retriable error, or
// its connection lost) is probed: its first batch goes alone, and the
// rest of its records follow once that one is written. Without this a
// write split in many batches sends them all again and again to a
// partition that refuses them, many times the requests (and garbage) of
// the outage itself.
func (w *write) round(ctx context.Context, todo []int) (retry []int, refresh bool, err error) {
	s := w.s
	fail := func(idx []int, err error, again bool) {
		for _, i := range idx {
			w.errs[i], w.again[i] = err, again
		}
		if again {
			retry = append(retry, idx...)
		}
	}
	// Until its answer comes: what ctx cutting the wait short leaves failed.
	fail(todo, errUnanswered, false)
	if unknown, err := w.assign(todo); len(unknown) > 0 {
		fail(unknown, err, true)
		refresh = true
		todo = slices.DeleteFunc(slices.Clone(todo), func(i int) bool { return w.part[i] < 0 })
	}

	// Group by partition, in write order, splitting at max_message_bytes.
	open := map[topicPartition]*batch{}
	perPartition := map[topicPartition][]*batch{}
	var partitions []topicPartition
	for _, i := range todo {
		p := topicPartition{w.topic[i], w.part[i]}
		b := open[p]
		if b == nil || b.bytes+w.size[i] >= s.maxBytes {
			b = &batch{topicPartition: p, bytes: batchOverhead}
			open[p] = b
			if perPartition[p] == nil {
				partitions = append(partitions, p)
			}
			perPartition[p] = append(perPartition[p], b)
		}
		b.idx = append(b.idx, i)
		b.bytes += w.size[i]
	}

	leaders := map[topicPartition]*sarama.Broker{}
	var first []*batch
	held := map[topicPartition][]*batch{} // behind a probe
	count := 0
	for _, p := range partitions {
		bs := perPartition[p]
		count += len(bs)
		leader, err := s.client.Leader(p.topic, p.partition)
		if err != nil {
			for _, b := range bs {
				fail(b.idx, fmt.Errorf("%s: no leader: %w", s.where(p), err), true)
			}
			s.setFailing(p, true)
			refresh = true
			continue
		}
		leaders[p] = leader
		if len(bs) > 1 && s.isFailing(p) {
			first, held[p] = append(first, bs[0]), bs[1:]
			continue
		}
		first = append(first, bs...)
	}

	// Every call comes back on done exactly once, from the broker's
	// receiver or from send; there is at most one call per batch.
	done := make(chan *call, count)
	pending := w.send(first, leaders, done)
	sent := false
	if len(held) == 0 {
		// Every record of this write is queued, in order: the runtime
		// may hand over the next write while this one waits.
		registry.Sent(ctx)
		sent = true
	}
	type conn struct {
		broker *sarama.Broker
		gen    uint64
	}
	closing := map[conn]bool{}
	for ; pending > 0; pending-- {
		var c *call
		select {
		case c = <-done:
		case <-ctx.Done():
			// Answered batches stand; the others may or may not be
			// written: they fail, to be sent again (at least once).
			for _, i := range todo {
				if w.errs[i] == errUnanswered {
					w.errs[i], w.again[i] = fmt.Errorf("waiting for the brokers: %w", ctx.Err()), true
				}
			}
			return nil, false, ctx.Err()
		}
		for _, b := range c.batches {
			err, again := w.outcome(c, b)
			if err != nil {
				err = fmt.Errorf("%s: %w", s.where(b.topicPartition), err)
			}
			fail(b.idx, err, again)
			refresh = refresh || again
			s.setFailing(b.topicPartition, again)
			rest := held[b.topicPartition]
			if rest == nil {
				continue
			}
			delete(held, b.topicPartition)
			if again { // the partition still refuses: the rest would be refused too
				for _, r := range rest {
					fail(r.idx, err, true)
				}
				continue
			}
			pending += w.send(rest, leaders, done)
		}
		if !sent && len(held) == 0 {
			registry.Sent(ctx)
			sent = true
		}
		if brokenConnection(c.err) {
			closing[conn{c.broker, c.gen}] = true
		}
	}
	if !sent {
		registry.Sent(ctx)
	}
	// A connection that failed is closed (not from the receiver, which
	// Close waits for); the client opens it again on the next Leader.
	for c := range closing {
		s.closeConnection(c.broker, c.gen)
	}
	return retry, refresh, nil
}

// outcome is what became of batch b of call c: nil when written, else
// the error and whether sending again may help.
func (w *write) outcome(c *call, b *batch) (err error, again bool) {
	switch {
	case brokenConnection(c.err): // the request may not have arrived
		return c.err, true
	case c.err != nil:
		return c.err, false
	case c.res == nil: // acks none: written once sent
		return nil, false
	}
	block := c.res.GetBlock(b.topic, b.partition)
	switch {
	case block == nil:
		return sarama.ErrIncompleteResponse, false
	case block.Err == sarama.ErrNoError, block.Err == sarama.ErrDuplicateSequenceNumber:
		return nil, false
	case block.ErrorMessage != nil && *block.ErrorMessage != "":
		return fmt.Errorf("%w (%s)", block.Err, *block.ErrorMessage), retriable(block.Err)
	}
	return block.Err, retriable(block.Err)
}

// retriable are the partition errors Sarama's AsyncProducer retries
// (brokerProducer.handleSuccess): leadership moving, a replica short, a
// timeout. The rest fail the partition's records at once.
func retriable(err sarama.KError) bool {
	switch err {
	case sarama.ErrInvalidMessage, sarama.ErrUnknownTopicOrPartition, sarama.ErrLeaderNotAvailable, sarama.ErrNotLeaderForPartition,
		sarama.ErrRequestTimedOut, sarama.ErrNotEnoughReplicas, sarama.ErrNotEnoughReplicasAfterAppend, sarama.ErrKafkaStorageError:
		return true
	}
	return false
}
