package inflight

import (
	"errors"
	"io"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowrun/flowrun/registry"
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultRedeliveryMaxDelay caps the backoff of a message nacked again and again.
const DefaultRedeliveryMaxDelay = 30 * time.Second

// maxTracked bounds the messages whose nacks are counted: beyond it the
// counts start again (a message then waits the first delay once more).
const maxTracked = 100_000

// logEvery is the most often a source logs that it redelivers.
const logEvery = 10 * time.Second

// Redelivery is the policy a source that redelivers nacked messages
// shares: each nack of the same message doubles its wait, from the
// source's redelivery_delay up to redelivery_max_delay, so a message that
// keeps failing (a sink down, no dead letter) costs little and its
// partition is not hammered. It counts redeliveries and the messages
// waiting for one (flowrun_source_redeliveries_total and
// flowrun_source_redeliveries_waiting) and logs at most one line per
// logEvery, with the count of nacks since the last one.
type Redelivery struct {
	initial, max time.Duration
	logger       *slog.Logger
	total        prometheus.Counter
	waiting      prometheus.Gauge

	tracked atomic.Int64 // len(nacks), read without the lock on every ack
	mu      sync.Mutex
	nacks   map[string]int // nacks so far of messages not acked since
	logged  time.Time
	quiet   int // nacks not logged since the last line
}

// NewRedelivery returns the policy for a source of env whose first wait
// is initial and longest maxDelay.
func NewRedelivery(env registry.Env, initial, maxDelay time.Duration) *Redelivery {
	r := &Redelivery{initial: max(initial, 0), max: max(maxDelay, initial), logger: env.Logger,
		nacks: map[string]int{}}
	if r.logger == nil {
		r.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	reg := env.Metrics
	if reg == nil {
		reg = prometheus.NewRegistry()
	}
	r.total = registerVec(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "flowrun_source_redeliveries_total",
		Help: "Nacked messages a source handed out again."}, []string{"flow"})).WithLabelValues(env.Flow)
	r.waiting = registerVec(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
		Name: "flowrun_source_redeliveries_waiting",
		Help: "Nacked messages waiting to be handed out again (a stuck partition shows here)."}, []string{"flow"})).WithLabelValues(env.Flow)
	return r
}

// Nacked records a nack of the message known as key (its offset, its
// broker id) and returns how long it waits before it is handed out
// again. attrs describe it in the log line.
func (r *Redelivery) Nacked(key string, err error, attrs ...any) time.Duration {
	r.waiting.Inc()
	now := time.Now()
	r.mu.Lock()
	if len(r.nacks) >= maxTracked {
		clear(r.nacks)
	}
	n := r.nacks[key] + 1
	r.nacks[key] = n
	r.tracked.Store(int64(len(r.nacks)))
	log := now.Sub(r.logged) >= logEvery
	quiet := r.quiet
	if log {
		r.logged, r.quiet = now, 0
	} else {
		r.quiet++
	}
	r.mu.Unlock()
	delay := r.Delay(n)
	if log {
		r.logger.Warn("message nacked: it will be handed out again (redeliveries back off up to redelivery_max_delay; "+
			"a dead_letter would keep it instead)",
			append(attrs, "nacks", n, "delay", delay, "error", err, "nacks_not_logged", quiet)...)
	}
	return delay
}

// Delay is the wait before the n-th redelivery of a message: initial,
// doubled at each nack, at most max. A zero initial delay redelivers at
// once the first time, then doubles from 1ms: a message that keeps
// failing must not spin.
func (r *Redelivery) Delay(n int) time.Duration {
	d := r.initial
	for i := 1; i < n && d < r.max; i++ {
		d = max(d, time.Millisecond) * 2
	}
	return min(d, r.max)
}

// HandedOut records n waiting messages handed out again.
func (r *Redelivery) HandedOut(n int) {
	if n > 0 {
		r.total.Add(float64(n))
		r.waiting.Sub(float64(n))
	}
}

// Dropped records n waiting messages that will not be handed out here
// (their partition moved to another consumer, the source closed).
func (r *Redelivery) Dropped(n int) {
	if n > 0 {
		r.waiting.Sub(float64(n))
	}
}

// Acked forgets the nacks of the message known as key. keyOf is called
// only when some message was nacked, so an ack costs nothing otherwise.
func (r *Redelivery) Acked(keyOf func() string) {
	if r.tracked.Load() == 0 {
		return
	}
	key := keyOf()
	r.mu.Lock()
	delete(r.nacks, key)
	r.tracked.Store(int64(len(r.nacks)))
	r.mu.Unlock()
}

// registerVec adds c to reg, or returns the collector already there
// (every source of the process shares one).
func registerVec[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a programming error: same name, other labels
	}
	return c
}
