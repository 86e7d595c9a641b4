package message

import (
	"sync"
	"sync/atomic"
)

// Tracker counts the messages derived from one source message that are
// still in flight. When the last one is settled, the done callback runs
// exactly once: the runtime then acks, dead-letters or nacks the original.
type Tracker struct {
	pending   atomic.Int64
	delivered atomic.Bool
	mu        sync.Mutex
	failure   *Failure

	src  *Message          // the message the source read (stages change its payload)
	key  string            // src.Key as read
	meta map[string]string // src.Meta as read (stages copy it before writing)

	done func(*Tracker)
}

// Failure says why and where handling of a message finally failed.
type Failure struct {
	Err      error
	Stage    string
	Attempts int
	// Permanent: handling the same message again fails the same way (a
	// payload that does not decode, an expression's type error), so
	// redelivering it is pointless.
	Permanent bool
}

// NewTracker starts tracking src with one message in flight (src itself).
func NewTracker(src *Message, done func(*Tracker)) *Tracker {
	t := &Tracker{src: src, key: src.Key, meta: src.Meta, done: done}
	t.pending.Store(1)
	return t
}

// Source is the message the source read, for Ack and Nack: its ID,
// Topic, Raw, Partition, Offset and Ref are as read; its payload, key and
// metadata may since have been changed by stages (see Original).
func (t *Tracker) Source() *Message { return t.src }

// Original returns a copy of the message as it was read: raw bytes, key
// and metadata as read, payload not yet decoded. It is what the dead
// letter receives and what a retry starts again from.
func (t *Tracker) Original() Message {
	s := t.src
	return Message{ID: s.ID, Key: t.key, Topic: s.Topic, Meta: t.meta, Raw: s.Raw,
		Partition: s.Partition, Offset: s.Offset, Ref: s.Ref}
}

// Add accounts for n more derived messages (n may be negative).
func (t *Tracker) Add(n int) {
	if t.pending.Add(int64(n)) == 0 {
		t.done(t)
	}
}

// Delivered settles one message accepted by its sink.
func (t *Tracker) Delivered() {
	t.delivered.Store(true)
	t.Add(-1)
}

// Dropped settles one message filtered out.
func (t *Tracker) Dropped() { t.Add(-1) }

// Failed settles one message whose handling finally failed. The first
// failure is kept.
func (t *Tracker) Failed(f Failure) {
	t.mu.Lock()
	if t.failure == nil {
		t.failure = &f
	}
	t.mu.Unlock()
	t.Add(-1)
}

// Failure returns the first failure, or nil when none failed.
func (t *Tracker) Failure() *Failure {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.failure
}

// WasDelivered reports whether any derived message reached a sink.
func (t *Tracker) WasDelivered() bool { return t.delivered.Load() }
