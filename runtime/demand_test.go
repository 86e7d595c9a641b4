package runtime

import (
	"context"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/poll"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// The window grows only when the demand is the bottleneck: a processor
// finished its chunk with nothing waiting while the source waited for
// credits. Then it doubles, up to max_demand, and the credits it adds
// are open at once; the source reads up to one window at a time.
func TestDemandWindowGrowsOnlyWhenTheSourceWaitsForIt(t *testing.T) {
	gauge := prometheus.NewGauge(prometheus.GaugeOpts{Name: "demand"})
	d := newDemand(2, 300, gauge) // windows of 128, chunks of 64
	ctx := context.Background()
	take := func(want int) {
		t.Helper()
		if n, err := d.acquire(ctx); n != want || err != nil {
			t.Fatalf("acquire = %d, %v; want %d", n, err, want)
		}
	}
	waitingSource := func() chan int {
		got := make(chan int)
		go func() {
			n, _ := d.acquire(ctx)
			got <- n
		}()
		poll.Until(t, "the source waits for credits", 10*time.Second, func() bool {
			d.mu.Lock()
			defer d.mu.Unlock()
			return d.waiting
		})
		return got
	}
	take(64)
	d.done(64, true) // idle, but the source is not waiting: not the demand's fault
	for range 4 {
		take(64)
	}
	got := waitingSource()
	d.done(64, false) // its next chunk was waiting: no growth
	if n := <-got; n != 64 {
		t.Fatalf("after a busy processor's release the source got %d credits, want 64", n)
	}
	// Starved while the source waited: 128 -> 256 per processor, so
	// 64 given back plus 2 x 128 new credits, and chunks of 128.
	got = waitingSource()
	d.done(64, true)
	if n := <-got; n != 128 {
		t.Fatalf("after growing the source got %d credits, want a chunk of 128", n)
	}
	if got := testutil.ToFloat64(gauge); got != 64+256-128 {
		t.Fatalf("open demand %v, want %d", got, 64+256-128)
	}
	d.mu.Lock()
	d.waiting = true
	d.mu.Unlock()
	d.done(0, true) // 256 -> 300, the ceiling, not 512
	d.mu.Lock()
	w, avail := d.window, d.avail
	d.mu.Unlock()
	if w != 300 || avail != 192+2*44 {
		t.Fatalf("window %d, open %d; want 300 (max_demand), %d", w, avail, 192+2*44)
	}
}

// An explicit max_demand below the start window is the window, fixed.
func TestDemandWindowStartsAtMaxDemandWhenLower(t *testing.T) {
	d := newDemand(3, 10, prometheus.NewGauge(prometheus.GaugeOpts{Name: "demand"}))
	d.waiting = true
	d.done(0, true)
	if d.window != 10 || d.avail != 30 {
		t.Fatalf("window %d, open %d; want 10 and 30", d.window, d.avail)
	}
}
