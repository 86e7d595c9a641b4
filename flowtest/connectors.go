package flowtest

import (
	"bytes"
	"context"
	"io"
	"maps"
	"sync"

	"github.com/flowrun/flowrun/message"
)

// source hands out the test's messages in order. It never redelivers:
// a nacked message is counted (the summary's nacked), not read again.
type source struct {
	mu     sync.Mutex
	queue  []*message.Message
	ended  bool // no more input: io.EOF once the queue is empty
	idle   bool // Read is waiting with nothing to hand out
	wake   chan struct{}
	notify func() // the state changed: a waiter may look again
}

func newSource(notify func()) *source {
	return &source{wake: make(chan struct{}, 1), notify: notify}
}

// add queues messages, or with none ends the input.
func (s *source) add(ms ...*message.Message) {
	s.mu.Lock()
	if len(ms) == 0 {
		s.ended = true
	}
	s.queue = append(s.queue, ms...)
	s.idle = false
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default:
	}
}

// waiting reports whether every message given was read and the source
// node came back for more: what it read before is dispatched.
func (s *source) waiting() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.idle
}

func (s *source) Read(ctx context.Context, buf []*message.Message) (int, error) {
	for {
		s.mu.Lock()
		if len(s.queue) > 0 {
			n := copy(buf, s.queue)
			s.queue = s.queue[n:]
			s.mu.Unlock()
			return n, nil
		}
		if s.ended {
			s.mu.Unlock()
			return 0, io.EOF
		}
		s.idle = true
		s.mu.Unlock()
		s.notify()
		select {
		case <-s.wake:
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

func (s *source) Ack(*message.Message)         {}
func (s *source) Nack(*message.Message, error) {}
func (s *source) Close() error                 { return nil }

// got is one message a sink received.
type got struct {
	ID, Key, Topic string
	Meta           map[string]string
	Body           []byte
}

// sink keeps what it is given.
type sink struct {
	mu   sync.Mutex
	msgs []got
}

func (s *sink) Write(_ context.Context, msgs []*message.Message) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range msgs {
		s.msgs = append(s.msgs, got{ID: m.ID, Key: m.Key, Topic: m.Topic, Meta: maps.Clone(m.Meta), Body: bytes.Clone(m.Body)})
	}
	return nil
}

func (s *sink) Close() error { return nil }

func (s *sink) received() []got {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]got(nil), s.msgs...)
}
