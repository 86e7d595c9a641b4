package memory

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	wm "github.com/ThreeDotsLabs/watermill/message"

	"github.com/flowrun/flowrun/connectors/internal/inflight"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

type source struct {
	topic      string
	redelivery *inflight.Redelivery
	msgs       <-chan *wm.Message
	cancel     context.CancelFunc // ends the subscription
	// slots bounds the messages handed out and not yet acked or nacked to
	// Env.MaxInFlight: GoChannel itself would push every message at once.
	// nil when MaxInFlight is not set.
	slots chan struct{}

	mu     sync.Mutex
	timers map[*time.Timer]struct{} // delayed nacks not yet sent
	closed bool
}

func newSource(cfg registry.Config, env registry.Env) (*source, error) {
	topic, err := topicOf(cfg, "source")
	if err != nil {
		return nil, err
	}
	// The subscription lives until Close, not until the constructor's ctx.
	ctx, cancel := context.WithCancel(context.Background())
	msgs, err := pubSub(env.MaxInFlight).Subscribe(ctx, topic)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("memory source: subscribe to %q: %w", topic, err)
	}
	s := &source{topic: topic, msgs: msgs, cancel: cancel, timers: map[*time.Timer]struct{}{},
		redelivery: inflight.NewRedelivery(env, cfg.Duration("redelivery_delay"), cfg.Duration("redelivery_max_delay"))}
	if env.MaxInFlight > 0 {
		s.slots = make(chan struct{}, env.MaxInFlight)
	}
	return s, nil
}

// delivery is a message's Ref: settled makes a second Ack or Nack of the
// same message a no-op, so it cannot free a slot twice.
type delivery struct {
	w       *wm.Message
	settled atomic.Bool
}

// Read waits for one message (and, at MaxInFlight, for an ack to free a
// slot for it), then takes only those already waiting.
func (s *source) Read(ctx context.Context, buf []*message.Message) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	if s.slots != nil {
		select {
		case s.slots <- struct{}{}:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
	select {
	case <-ctx.Done():
		s.release()
		return 0, ctx.Err()
	case w, ok := <-s.msgs:
		if !ok {
			s.release()
			return 0, ErrClosed
		}
		buf[0] = s.fromWatermill(w)
	}
	n := 1
	for n < len(buf) && s.acquire() {
		select {
		case w, ok := <-s.msgs:
			if ok {
				buf[n] = s.fromWatermill(w)
				n++
				continue
			}
		default:
		}
		s.release()
		break
	}
	return n, nil
}

// acquire takes a slot without waiting.
func (s *source) acquire() bool {
	if s.slots == nil {
		return true
	}
	select {
	case s.slots <- struct{}{}:
		return true
	default:
		return false
	}
}

func (s *source) release() {
	if s.slots != nil {
		<-s.slots
	}
}

// fromWatermill converts a delivered message; w is this delivery's own
// copy, so its metadata can become Meta as it is.
func (s *source) fromWatermill(w *wm.Message) *message.Message {
	m := &message.Message{ID: w.UUID, Topic: s.topic, Raw: w.Payload, Ref: &delivery{w: w}}
	if key, ok := w.Metadata[KeyMetadata]; ok {
		m.Key = key
		delete(w.Metadata, KeyMetadata)
	}
	if len(w.Metadata) > 0 {
		m.Meta = w.Metadata
	}
	return m
}

// settle marks m's delivery settled, once, and frees its slot.
func (s *source) settle(m *message.Message) *wm.Message {
	d, ok := m.Ref.(*delivery)
	if !ok || !d.settled.CompareAndSwap(false, true) {
		return nil
	}
	s.release()
	return d.w
}

// Ack acknowledges the delivery to GoChannel.
func (s *source) Ack(m *message.Message) {
	if w := s.settle(m); w != nil {
		w.Ack()
		s.redelivery.Acked(func() string { return m.ID })
	}
}

// Nack has GoChannel deliver the message again, after the redelivery
// delay, doubled at each nack of the same message up to the max delay.
func (s *source) Nack(m *message.Message, err error) {
	w := s.settle(m)
	if w == nil {
		return
	}
	delay := s.redelivery.Nacked(m.ID, err, "topic", s.topic, "id", m.ID)
	if delay <= 0 {
		w.Nack()
		s.redelivery.HandedOut(1)
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed { // the subscription is gone: nobody would get it again here
		s.redelivery.Dropped(1)
		return
	}
	var t *time.Timer
	t = time.AfterFunc(delay, func() {
		s.mu.Lock()
		delete(s.timers, t)
		s.mu.Unlock()
		w.Nack()
		s.redelivery.HandedOut(1)
	})
	s.timers[t] = struct{}{}
}

// Close ends the subscription and waits until GoChannel has closed its
// channel, so no delivery is left waiting on this source.
func (s *source) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	for t := range s.timers {
		if t.Stop() {
			s.redelivery.Dropped(1)
		}
	}
	clear(s.timers)
	s.mu.Unlock()
	s.cancel()
	for range s.msgs { // deliveries racing the close are dropped: the topic keeps them
	}
	return nil
}
