package kafka

import "sort"

// entryState is where a read message stands.
type entryState uint8

const (
	waiting  entryState = iota // read from Kafka, not yet handed to the flow
	inFlight                   // handed out by Read, not yet settled
	nacked                     // nacked: waiting to be handed out again
	acked                      // done: the watermark may pass it
)

type entry struct {
	offset int64
	state  entryState
}

// watermark tracks the offsets of one partition from the moment they are
// read until they are acked. Acks arrive in any order; the committable
// offset only moves past a prefix of acked offsets, so a crash never
// skips a message that was not handled. It is a fixed-size ring: a full
// ring means the partition waits (memory stays bounded even when one
// message is stuck while later ones are acked).
type watermark struct {
	ring []entry
	head int // index of the oldest entry
	n    int // entries in use
}

func newWatermark(size int) *watermark {
	return &watermark{ring: make([]entry, max(size, 1))}
}

func (w *watermark) at(i int) *entry { return &w.ring[(w.head+i)%len(w.ring)] }

func (w *watermark) full() bool { return w.n == len(w.ring) }

func (w *watermark) len() int { return w.n }

// push adds the next offset read (offsets only increase within a
// partition, with gaps after compaction or transaction markers).
// It reports false when the ring is full.
func (w *watermark) push(offset int64) bool {
	if w.full() {
		return false
	}
	w.ring[(w.head+w.n)%len(w.ring)] = entry{offset: offset, state: waiting}
	w.n++
	return true
}

// find returns the entry of offset, or nil when it is not tracked.
func (w *watermark) find(offset int64) *entry {
	if w.n == 0 {
		return nil
	}
	// Offsets are usually consecutive: try its position directly first.
	if d := offset - w.ring[w.head].offset; d >= 0 && d < int64(w.n) {
		if e := w.at(int(d)); e.offset == offset {
			return e
		}
	}
	i := sort.Search(w.n, func(i int) bool { return w.at(i).offset >= offset })
	if i < w.n && w.at(i).offset == offset {
		return w.at(i)
	}
	return nil
}

// advance drops the acked prefix. It returns the offset to commit (the
// one after the last dropped) and whether anything was dropped.
func (w *watermark) advance() (next int64, moved bool) {
	for w.n > 0 && w.ring[w.head].state == acked {
		next, moved = w.ring[w.head].offset+1, true
		w.head = (w.head + 1) % len(w.ring)
		w.n--
	}
	return next, moved
}
