package runtime

import (
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// durations is flowrun_stage_duration_seconds: a histogram per (flow,
// stage) whose observations may carry a weight, so the processors can
// time one message in timingSample and count it for all of them. Reading
// the clock and observing for every stage of every message was ~7% of a
// flow's CPU.
type durations struct {
	desc    *prometheus.Desc
	buckets []float64

	mu     sync.Mutex
	stages map[[2]string]*duration
}

func newDurations(name, help string, labels []string, buckets []float64) *durations {
	return &durations{
		desc:    prometheus.NewDesc(name, help, labels, nil),
		buckets: slices.Clone(buckets),
		stages:  map[[2]string]*duration{},
	}
}

// WithLabelValues returns the histogram of one flow's stage.
func (v *durations) WithLabelValues(flow, stage string) *duration {
	v.mu.Lock()
	defer v.mu.Unlock()
	k := [2]string{flow, stage}
	d := v.stages[k]
	if d == nil {
		d = &duration{buckets: v.buckets, counts: make([]atomic.Uint64, len(v.buckets)+1)}
		v.stages[k] = d
	}
	return d
}

func (v *durations) Describe(ch chan<- *prometheus.Desc) { ch <- v.desc }

func (v *durations) Collect(ch chan<- prometheus.Metric) {
	v.mu.Lock()
	defer v.mu.Unlock()
	for k, d := range v.stages {
		count, sum, cumulative := d.snapshot()
		ch <- prometheus.MustNewConstHistogram(v.desc, count, sum, cumulative, k[0], k[1])
	}
}

// duration is one stage's histogram.
type duration struct {
	buckets []float64
	counts  []atomic.Uint64 // per bucket, not cumulative; the last is +Inf
	sumBits atomic.Uint64   // float64 bits of the sum of observations
}

// Observe records one observation of v seconds.
func (d *duration) Observe(v float64) { d.ObserveN(v, 1) }

// ObserveN records v seconds as n observations.
func (d *duration) ObserveN(v float64, n uint64) {
	// Buckets count observations <= their upper bound, as Prometheus does.
	d.counts[sort.SearchFloat64s(d.buckets, v)].Add(n)
	for {
		old := d.sumBits.Load()
		if d.sumBits.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+v*float64(n))) {
			return
		}
	}
}

// snapshot gives the count (the sum of the buckets, so the two agree),
// the sum and the cumulative buckets.
func (d *duration) snapshot() (uint64, float64, map[float64]uint64) {
	cumulative := make(map[float64]uint64, len(d.buckets))
	var count uint64
	for i, b := range d.buckets {
		count += d.counts[i].Load()
		cumulative[b] = count
	}
	count += d.counts[len(d.buckets)].Load()
	return count, math.Float64frombits(d.sumBits.Load()), cumulative
}
