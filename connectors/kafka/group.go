package kafka

import (
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/connectors/internal/inflight"
	"github.com/flowrun/flowrun/message"
)

// groupHandler gets Sarama's session callbacks. One session is one group
// generation: Setup gets its partitions, ConsumeClaim reads each one, and
// Cleanup runs when the partitions are revoked (rebalance or Close).
type groupHandler struct {
	s      *source
	mu     sync.Mutex
	claims map[string]map[int32]*partitionClaim // of the current session
}

func (h *groupHandler) Setup(sess sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.claims = map[string]map[int32]*partitionClaim{}
	for topic, partitions := range sess.Claims() {
		h.claims[topic] = map[int32]*partitionClaim{}
		for _, p := range partitions {
			lag := h.s.lag.WithLabelValues(h.s.flow, topic, strconv.Itoa(int(p)))
			h.claims[topic][p] = newPartitionClaim(sess, topic, p, h.s.window, lag)
		}
	}
	h.s.logger.Info("kafka partitions assigned", "generation", sess.GenerationID(), "claims", sess.Claims())
	return nil
}

func (h *groupHandler) claim(topic string, partition int32) *partitionClaim {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.claims[topic][partition]
}

// owned returns the partitions of the current session, per topic.
func (h *groupHandler) owned() map[string][]int32 {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[string][]int32{}
	for topic, parts := range h.claims {
		for p := range parts {
			out[topic] = append(out[topic], p)
		}
	}
	return out
}

// readBatch is the most messages ConsumeClaim hands to Read at once:
// one channel operation per batch instead of one per message.
const readBatch = 64

// ConsumeClaim moves one partition's messages into the source's buffer
// until the session ends: what Sarama has ready, up to readBatch, at a time.
func (h *groupHandler) ConsumeClaim(sess sarama.ConsumerGroupSession, claim sarama.ConsumerGroupClaim) error {
	ctx := sess.Context()
	c := h.claim(claim.Topic(), claim.Partition())
	if c == nil {
		// Not set up: returning would end the session and rejoin in a loop.
		h.s.logger.Error("kafka partition claimed without setup; not reading it", "topic", claim.Topic(), "partition", claim.Partition())
		<-ctx.Done()
		return nil
	}
	records := claim.Messages()
	for {
		var km *sarama.ConsumerMessage
		select {
		case r, ok := <-records:
			if !ok {
				return nil
			}
			km = r
		case <-ctx.Done():
			return nil
		}
		batch := make([]*message.Message, 0, readBatch)
		closed := false
		for km != nil {
			if !c.tryTrack(km.Offset, claim.HighWaterMarkOffset()) {
				// The window is full (or the claim is ending): hand over
				// what is tracked before waiting, so it can be acked.
				if len(batch) > 0 {
					if !h.s.hand(ctx, batch) {
						return nil
					}
					batch = make([]*message.Message, 0, readBatch)
				}
				if !c.track(ctx, km.Offset, claim.HighWaterMarkOffset()) {
					return nil
				}
			}
			batch = append(batch, toMessage(km, c))
			km = nil
			if len(batch) < readBatch {
				select {
				case r, ok := <-records:
					km, closed = r, !ok
				default:
				}
			}
		}
		if !h.s.hand(ctx, batch) || closed {
			return nil
		}
	}
}

// Cleanup revokes the session's partitions. On a rebalance it first waits
// (up to half the rebalance timeout) for the messages already in the flow,
// so their acks are committed before another member takes the partitions:
// fewer duplicates. Sarama commits the marked offsets after Cleanup.
func (h *groupHandler) Cleanup(sess sarama.ConsumerGroupSession) error {
	h.mu.Lock()
	claims := h.claims
	h.claims = nil
	h.mu.Unlock()

	var busy []*partitionClaim
	for _, parts := range claims {
		for _, c := range parts {
			if c.revoke() {
				busy = append(busy, c)
			}
		}
	}
	if len(busy) > 0 && h.s.ctx.Err() == nil {
		deadline := time.NewTimer(h.s.drainFor)
		defer deadline.Stop()
	wait:
		for _, c := range busy {
			select {
			case <-c.drained:
			case <-deadline.C:
				h.s.logger.Warn("kafka rebalance: messages still in flight after the drain time; the next owner will read them again")
				break wait
			case <-h.s.ctx.Done():
				break wait
			}
		}
	}
	for topic, parts := range claims {
		for p, c := range parts {
			c.finish()
			h.s.lag.DeleteLabelValues(h.s.flow, topic, strconv.Itoa(int(p)))
		}
	}
	h.s.logger.Info("kafka partitions revoked", "generation", sess.GenerationID())
	return nil
}

// redeliveries holds nacked messages until their delay has passed. It
// never holds more than the flow had in flight. The delays grow with each
// nack of a message (inflight.Redelivery), so the queue is kept in ready
// order by inserting each entry in its place.
type redeliveries struct {
	policy *inflight.Redelivery
	wake   chan struct{} // signalled on add, so a waiting Read sets its timer
	mu     sync.Mutex
	queue  []redelivery // in ready order
}

type redelivery struct {
	m     *message.Message
	ready time.Time
}

func newRedeliveries(policy *inflight.Redelivery) *redeliveries {
	return &redeliveries{policy: policy, wake: make(chan struct{}, 1)}
}

func (r *redeliveries) add(m *message.Message, ready time.Time) {
	r.mu.Lock()
	i := sort.Search(len(r.queue), func(i int) bool { return r.queue[i].ready.After(ready) })
	r.queue = slices.Insert(r.queue, i, redelivery{m: m, ready: ready})
	r.mu.Unlock()
	select {
	case r.wake <- struct{}{}:
	default:
	}
}

// next returns how long until the oldest entry is ready.
func (r *redeliveries) next(now time.Time) (time.Duration, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.queue) == 0 {
		return 0, false
	}
	return max(r.queue[0].ready.Sub(now), 0), true
}

// take hands out ready entries into buf; entries of revoked partitions
// are dropped (their next owner reads them again).
func (r *redeliveries) take(buf []*message.Message, now time.Time) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, i := 0, 0
	for ; i < len(r.queue) && n < len(buf) && !r.queue[i].ready.After(now); i++ {
		m := r.queue[i].m
		if c, ok := m.Ref.(*partitionClaim); ok && c.handOut(m.Offset) {
			buf[n] = m
			n++
		}
	}
	if i > 0 {
		clear(r.queue[:i])
		r.queue = append(r.queue[:0], r.queue[i:]...)
	}
	r.policy.HandedOut(n)
	r.policy.Dropped(i - n)
	return n
}

// close drops what still waits: nobody hands it out here any more.
func (r *redeliveries) close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.policy.Dropped(len(r.queue))
	r.queue = nil
}
