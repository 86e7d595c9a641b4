package kafka

import (
	"context"
	"sync"

	"github.com/IBM/sarama"
	"github.com/prometheus/client_golang/prometheus"
)

// partitionClaim is one partition this member owns in one group
// generation. Messages point at it (Message.Ref) so their Ack finds the
// generation they were read in: an ack that arrives after the partition
// was revoked is ignored, and the new owner redelivers the message.
type partitionClaim struct {
	sess      sarama.ConsumerGroupSession
	topic     string
	partition int32
	lag       prometheus.Gauge

	mu          sync.Mutex
	marks       *watermark
	mark        int64 // next offset to commit; -1 until the first message
	highWater   int64 // the partition's high watermark as last fetched
	outstanding int   // handed out, neither acked nor nacked yet
	revoking    bool  // the session is ending: hand out nothing more
	revoked     bool  // no longer ours: ignore acks, mark nothing

	space   chan struct{} // signalled when acked entries leave the window
	drained chan struct{} // signalled when outstanding reaches 0 while revoking
}

func newPartitionClaim(sess sarama.ConsumerGroupSession, topic string, partition int32, window int, lag prometheus.Gauge) *partitionClaim {
	return &partitionClaim{
		sess: sess, topic: topic, partition: partition, lag: lag,
		marks: newWatermark(window), mark: -1,
		space: make(chan struct{}, 1), drained: make(chan struct{}, 1),
	}
}

// track records an offset read from Kafka before it goes to the buffer.
// It waits while the window is full and reports false when the claim is
// being revoked or ctx ends.
func (c *partitionClaim) track(ctx context.Context, offset, highWater int64) bool {
	for {
		if c.tryTrack(offset, highWater) {
			return true
		}
		c.mu.Lock()
		revoking := c.revoking
		c.mu.Unlock()
		if revoking {
			return false
		}
		select {
		case <-c.space:
		case <-ctx.Done():
			return false
		}
	}
}

// tryTrack is track without waiting: false when the window is full or
// the claim is being revoked.
func (c *partitionClaim) tryTrack(offset, highWater int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.revoking || !c.marks.push(offset) {
		return false
	}
	if c.mark < 0 {
		c.mark = offset
	}
	c.highWater = highWater
	c.lag.Set(float64(max(highWater-c.mark, 0)))
	return true
}

// handOut marks the message at offset as given to the flow; false means
// the partition is being revoked and the message must be dropped.
func (c *partitionClaim) handOut(offset int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.marks.find(offset)
	if c.revoking || e == nil || e.state == inFlight || e.state == acked {
		return false
	}
	e.state = inFlight
	c.outstanding++
	return true
}

// ack settles offset and moves the committed mark past every acked
// offset in front of it.
func (c *partitionClaim) ack(offset int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.revoked {
		return
	}
	e := c.marks.find(offset)
	if e == nil || e.state != inFlight {
		return // a duplicate ack, or one from before a restart of the window
	}
	e.state = acked
	c.settledLocked()
	if next, moved := c.marks.advance(); moved {
		c.mark = next
		c.sess.MarkOffset(c.topic, c.partition, next, "")
		c.lag.Set(float64(max(c.highWater-next, 0)))
		select {
		case c.space <- struct{}{}:
		default:
		}
	}
}

// nack settles offset without passing it: the watermark stays below it
// until it is redelivered and acked. It reports whether the caller should
// redeliver it (false once the partition is being revoked: its next owner
// reads it again from the committed offset).
func (c *partitionClaim) nack(offset int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.marks.find(offset)
	if c.revoked || e == nil || e.state != inFlight {
		return false
	}
	e.state = nacked
	c.settledLocked()
	return !c.revoking
}

func (c *partitionClaim) settledLocked() {
	c.outstanding--
	if c.revoking && c.outstanding == 0 {
		select {
		case c.drained <- struct{}{}:
		default:
		}
	}
}

// revoke stops hand-outs and redeliveries; it reports whether messages
// are still out in the flow.
func (c *partitionClaim) revoke() (busy bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.revoking = true
	return c.outstanding > 0
}

// finish ends the claim: later acks are ignored.
func (c *partitionClaim) finish() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.revoked = true
}

// committed returns the offset marked for commit (-1 before any message).
func (c *partitionClaim) committed() int64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mark
}
