package runtime

import (
	"context"
	"sync/atomic"

	"github.com/flowrun/flowrun/message"
	"github.com/prometheus/client_golang/prometheus"
)

// budget bounds the bytes a flow holds (max_in_flight_bytes): the Raw
// bytes of source messages read and not yet settled (acked, nacked,
// rejected, or written to the dead letter). Reading stops while the
// flow holds the budget or more, and each read is sized, from the
// average message so far, to what still fits, so the flow holds about
// the budget plus one message at most. With nothing held, one message
// is read whatever its size: a message larger than the budget passes
// alone.
type budget struct {
	limit      int64
	maxMessage int64 // max_message_bytes
	held       atomic.Int64
	gauge      prometheus.Gauge

	// The average message, kept by the source goroutine only; halved
	// now and then so it follows a stream whose sizes change.
	bytes, count int64

	// starved is set while reading waits on the budget: a release then
	// wakes the reader, and open batches, which hold bytes nothing else
	// gives back, flush early (see batcher.pressed).
	starved  atomic.Bool
	wake     chan struct{}
	pressure chan struct{}    // signalled when reading starts to wait
	full     func(held int64) // called then (an observer event)
}

func newBudget(limit, maxMessage int64, gauge prometheus.Gauge, full func(held int64)) *budget {
	return &budget{limit: limit, maxMessage: max(maxMessage, 1), gauge: gauge, full: full,
		wake: make(chan struct{}, 1), pressure: make(chan struct{}, 1)}
}

// fit waits while the flow holds the budget, then returns how many of
// n messages fit in what is left, at least 1. Until the size of a
// message is known, each is taken to be max_message_bytes, the largest
// a flow handles.
func (b *budget) fit(ctx context.Context, n int) (int, error) {
	for {
		held := b.held.Load()
		if held < b.limit || held == 0 {
			avg := b.maxMessage
			if b.count > 0 {
				avg = max(b.bytes/b.count, 1)
			}
			return int(min(int64(n), max((b.limit-held)/avg, 1))), nil
		}
		b.starved.Store(true)
		if b.held.Load() < b.limit { // a release came before starved was set
			b.starved.Store(false)
			continue
		}
		select {
		case b.pressure <- struct{}{}:
		default:
		}
		b.full(held)
		select {
		case <-b.wake:
			b.starved.Store(false)
		case <-ctx.Done():
			b.starved.Store(false)
			return 0, ctx.Err()
		}
	}
}

// take counts the bytes of msgs, just read.
func (b *budget) take(msgs []*message.Message) {
	var n int64
	for _, m := range msgs {
		n += int64(len(m.Raw))
	}
	b.held.Add(n)
	b.gauge.Add(float64(n))
	b.bytes += n
	b.count += int64(len(msgs))
	if b.count > 1<<16 {
		b.bytes, b.count = b.bytes/2, b.count/2
	}
}

// release gives back the bytes of a settled source message.
func (b *budget) release(m *message.Message) {
	n := int64(len(m.Raw))
	b.held.Add(-n)
	b.gauge.Sub(float64(n))
	if b.starved.Load() {
		select {
		case b.wake <- struct{}{}:
		default:
		}
	}
}

// pressed reports whether reading waits on the budget now.
func (b *budget) pressed() bool { return b.starved.Load() }
