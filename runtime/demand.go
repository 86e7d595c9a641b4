package runtime

import (
	"context"
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// startWindow is the demand one processor starts with when max_demand
// allows more: small, so a slow stream holds little.
const startWindow = 128

// demand is the processors' open demand, in messages. Each processor
// has a window of credits; the source takes credits before it reads,
// so it fetches only what processors asked for, and processors give
// them back once they have passed a message on. Memory stays bounded
// however fast the broker pushes.
//
// How many messages move per hand-off is decoupled from how many may be
// in flight: the source reads at most half a window at a time, so while
// a processor works on one chunk its next one can already wait on the
// edge. The window adapts: it starts at startWindow and doubles, up to
// max_demand, whenever a processor finishes a chunk and finds nothing
// waiting while the source is held back by the credits: the demand is
// then the bottleneck. A source slower than the processors never waits
// for credits, so its window stays small; a fast one grows it, and with
// it the chunks, so hand-offs cost less per message.
type demand struct {
	mu      sync.Mutex
	avail   int  // open credits
	window  int  // credits per processor
	ceiling int  // max_demand: the most window grows to
	procs   int  // processors
	waiting bool // the source waits for credits
	wake    chan struct{}
	gauge   prometheus.Gauge
}

func newDemand(procs, maxDemand int, gauge prometheus.Gauge) *demand {
	w := min(startWindow, maxDemand)
	gauge.Set(float64(procs * w))
	return &demand{avail: procs * w, window: w, ceiling: maxDemand, procs: procs,
		wake: make(chan struct{}, 1), gauge: gauge}
}

// acquire waits until credits are open and takes up to one chunk, half
// a window, of them.
func (d *demand) acquire(ctx context.Context) (int, error) {
	for {
		d.mu.Lock()
		if d.avail > 0 {
			n := min(d.avail, max(d.window/2, 1))
			d.avail -= n
			d.waiting = false
			d.mu.Unlock()
			d.gauge.Sub(float64(n))
			return n, nil
		}
		d.waiting = true
		d.mu.Unlock()
		select {
		case <-d.wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// release gives n credits back.
func (d *demand) release(n int) { d.give(n, false) }

// done gives back the n credits of a chunk a processor finished; idle
// says its input was empty then: if the source waits for credits too,
// the window grows.
func (d *demand) done(n int, idle bool) { d.give(n, idle) }

func (d *demand) give(n int, idle bool) {
	d.mu.Lock()
	if idle && d.waiting && d.window < d.ceiling {
		grown := min(2*d.window, d.ceiling)
		extra := (grown - d.window) * d.procs
		d.window = grown
		n += extra
	}
	if n == 0 {
		d.mu.Unlock()
		return
	}
	d.avail += n
	d.mu.Unlock()
	d.gauge.Add(float64(n))
	select {
	case d.wake <- struct{}{}:
	default:
	}
}
