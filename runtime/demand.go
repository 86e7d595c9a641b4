package runtime

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// demand is the processors' open demand, in messages: concurrency x
// max_demand credits. The source takes credits before it reads, so it
// fetches only what processors asked for; processors give them back
// once they have passed a message on. Memory stays bounded however fast
// the broker pushes.
type demand struct {
	mu    sync.Mutex
	avail int
	wake  chan struct{} // signalled when credits come back
	gauge prometheus.Gauge
}

func newDemand(total int, gauge prometheus.Gauge) *demand {
	gauge.Set(float64(total))
	return &demand{avail: total, wake: make(chan struct{}, 1), gauge: gauge}
}

// acquire waits until credits are open and takes up to max of them.
func (d *demand) acquire(ctx context.Context, max int) (int, error) {
	for {
		d.mu.Lock()
		if d.avail > 0 {
			n := min(d.avail, max)
			d.avail -= n
			d.mu.Unlock()
			d.gauge.Sub(float64(n))
			return n, nil
		}
		d.mu.Unlock()
		select {
		case <-d.wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// release gives n credits back.
func (d *demand) release(n int) {
	if n == 0 {
		return
	}
	d.mu.Lock()
	d.avail += n
	d.mu.Unlock()
	d.gauge.Add(float64(n))
	select {
	case d.wake <- struct{}{}:
	default:
	}
}
