// Package tap streams samples of the messages flowing through a running
// flow to `flowrun tap` clients, over the run's HTTP server (GET /tap,
// one JSON line per message). The runtime hands it messages only while
// a client is attached; a slow client never slows the flow: samples it
// cannot take are dropped and counted.
package tap

import (
	"errors"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/time/rate"
)

// queueLen bounds the samples waiting for one client: beyond it the
// flow does not wait, samples are dropped.
const queueLen = 256

// Hub is the runtime.Tap of one pipeline: it fans samples out to the
// attached clients and attaches itself only while there is one.
type Hub struct {
	p       *runtime.Pipeline
	mu      sync.Mutex
	subs    atomic.Pointer[[]*sub] // copy on write: Sample reads without a lock
	closed  chan struct{}
	once    sync.Once
	dropped prometheus.Counter
}

// sample is what a client is sent of one message: copies, so the flow
// may go on with the message at once.
type sample struct {
	at   *runtime.TapPoint
	time time.Time
	msg  message.Message // ID, Key, Topic, Meta, Body only
}

// sub is one attached client.
type sub struct {
	points  map[*runtime.TapPoint]bool
	limit   *rate.Limiter // nil: no rate limit; applied here unless filtered
	filters bool          // the client filters (where): it applies the limit itself
	ch      chan *sample
	dropped atomic.Int64
}

// NewHub returns the hub of p, counting dropped samples on reg (nil: not exported).
func NewHub(p *runtime.Pipeline, flow string, reg prometheus.Registerer) *Hub {
	h := &Hub{p: p, closed: make(chan struct{}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{Name: "flowrun_tap_dropped_total",
			Help:        "Tap samples dropped because a tap client did not keep up (the flow never waits for one).",
			ConstLabels: prometheus.Labels{"flow": flow}})}
	if reg != nil {
		// Each run of a flow (a restart, a reload) has its own hub: they
		// count on the flow's one counter.
		if err := reg.Register(h.dropped); err != nil {
			var are prometheus.AlreadyRegisteredError
			if errors.As(err, &are) {
				if c, ok := are.ExistingCollector.(prometheus.Counter); ok {
					h.dropped = c
				}
			}
		}
	}
	return h
}

// Close ends every client's stream (the run is over).
func (h *Hub) Close() { h.once.Do(func() { close(h.closed) }) }

// Sample implements runtime.Tap.
func (h *Hub) Sample(at *runtime.TapPoint, msgs []*message.Message) {
	subs := h.subs.Load()
	if subs == nil {
		return
	}
	now := time.Now()
	for _, s := range *subs {
		if !s.points[at] {
			continue
		}
		for _, m := range msgs {
			if !s.filters && s.limit != nil && !s.limit.AllowN(now, 1) {
				continue
			}
			if len(s.ch) == cap(s.ch) { // checked first: a full client costs no copy
				s.drop()
				h.dropped.Inc()
				continue
			}
			select {
			case s.ch <- snapshot(at, m, now):
			default:
				s.drop()
				h.dropped.Inc()
			}
		}
	}
}

func (s *sub) drop() { s.dropped.Add(1) }

// snapshot copies what a client sees of m: its body as the next node
// gets it (encoding a changed payload on a copy of the message).
func snapshot(at *runtime.TapPoint, m *message.Message, now time.Time) *sample {
	s := &sample{at: at, time: now}
	s.msg.ID, s.msg.Key, s.msg.Topic = m.ID, m.Key, m.Topic
	s.msg.Meta = maps.Clone(m.Meta)
	body := m.Body
	switch {
	case body != nil:
	case !m.Changed:
		body = m.Raw
	default:
		cp := *m
		if err := at.Codec.Encode(&cp); err != nil {
			body = []byte(message.FormatValue(m.Payload))
		} else {
			body = cp.Body
		}
	}
	s.msg.Body = append([]byte(nil), body...)
	return s
}

// attach adds s; the first client attaches the hub to the pipeline.
func (h *Hub) attach(s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var subs []*sub
	if old := h.subs.Load(); old != nil {
		subs = append(subs, *old...)
	}
	subs = append(subs, s)
	h.subs.Store(&subs)
	if len(subs) == 1 {
		h.p.SetTap(h)
	}
}

// detach removes s; the last client detaches the hub, so the flow pays
// nothing again.
func (h *Hub) detach(s *sub) {
	h.mu.Lock()
	defer h.mu.Unlock()
	var subs []*sub
	for _, o := range *h.subs.Load() {
		if o != s {
			subs = append(subs, o)
		}
	}
	if len(subs) == 0 {
		h.p.SetTap(nil)
		h.subs.Store(nil)
		return
	}
	h.subs.Store(&subs)
}
