// Package message is the unit that flows through a flowrun graph, its
// acknowledgement tracker and its codecs.
package message

import "maps"

// Message is one message. Sources fill ID, Key, Topic, Meta and Raw (and
// Partition/Offset/Ref so they can find it again on Ack); the runtime
// decodes Raw into Payload once; stages change Payload, Meta and Key; the
// runtime encodes Payload into Body before a sink writes it.
type Message struct {
	ID    string
	Key   string
	Topic string
	Meta  map[string]string
	Raw   []byte // bytes as read from the source; never modified
	// Err, set by a source, marks a message it could not read whole (a
	// line over max_line_bytes, Raw holding its start): the runtime fails
	// it at once, in stage "source", like any failure (dead letter, nack).
	Err error

	Payload any  // decoded Raw, valid when Decoded
	Decoded bool // Payload holds the decoded Raw (or a stage's value)
	Changed bool // Payload differs from Raw: the sink must encode it
	// metaOwned is false while Meta is shared with the source message
	// (next to the other flags: a message fits a 224-byte allocation).
	metaOwned bool

	Body []byte // what the sink writes: set by the runtime before Write

	// Where the source can find the message again on Ack/Nack.
	Partition int32
	Offset    int64
	Ref       any

	Route   int      // sink index chosen by a route stage (0 without one)
	Tracker *Tracker // acknowledgement of the source message this came from
	More    []*Tracker
	// origin knows the raw bytes of the values decode built, for Encode.
	origin *origin
}

// SetMeta sets a metadata entry, copying the map first if it is shared.
func (m *Message) SetMeta(k, v string) {
	if !m.metaOwned {
		m.Meta = maps.Clone(m.Meta)
		if m.Meta == nil {
			m.Meta = map[string]string{}
		}
		m.metaOwned = true
	}
	m.Meta[k] = v
}

// SetPayload replaces the payload; the sink will encode it.
func (m *Message) SetPayload(p any) {
	m.Payload, m.Decoded, m.Changed = p, true, true
}

// Undecode forgets the decoded payload of a message the flow has not
// changed (its payload is still Raw decoded), so that a message kept
// only for its acknowledgement (a member of a reduced batch, until the
// result is written) holds its raw bytes and not its decoded values; the
// next Decode decodes Raw again. It reports whether it forgot anything.
func (m *Message) Undecode() bool {
	if !m.Decoded || m.Changed {
		return false
	}
	m.Payload, m.Decoded, m.origin = nil, false, nil
	return true
}

// Derive returns a new message carrying m's identity, metadata (shared,
// copied on write) and tracker, with payload p. The caller accounts for it
// on the tracker (Tracker.Add) and gives it an ID of its own when it is
// one of several (split: <id>.<index>).
func (m *Message) Derive(p any) *Message {
	return &Message{
		ID: m.ID, Key: m.Key, Topic: m.Topic, Meta: m.Meta,
		Payload: p, Decoded: true, Changed: true,
		Partition: m.Partition, Offset: m.Offset, Route: m.Route,
		Tracker: m.Tracker, origin: m.origin,
	}
}

// Trackers calls fn for every tracker the message settles.
func (m *Message) Trackers(fn func(*Tracker)) {
	if m.Tracker != nil {
		fn(m.Tracker)
	}
	for _, t := range m.More {
		fn(t)
	}
}

// AsRead returns m as its source read it: identity, raw bytes, broker
// position, and the key and metadata as read even when stages have since
// changed m's (the runtime's tracker remembers them). A source that
// redelivers on Nack builds the copy from it.
func (m *Message) AsRead() *Message {
	if m.Tracker != nil {
		o := m.Tracker.Original()
		return &o
	}
	return &Message{ID: m.ID, Key: m.Key, Topic: m.Topic, Meta: m.Meta, Raw: m.Raw,
		Partition: m.Partition, Offset: m.Offset, Ref: m.Ref}
}
