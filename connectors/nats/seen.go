package nats

import "sync"

// recentAcks is how many acknowledged stream sequences are remembered.
const recentAcks = 8192

// seen filters out second deliveries of a stream message. nats-server
// (seen with 2.9) can deliver a message that was just NAKed twice, once
// as a redelivery and once as new; and a lost ack brings back a message
// this source already handled. A message is held from its delivery
// until its Ack or Nack.
type seen struct {
	mu    sync.Mutex
	held  map[uint64]bool
	acked map[uint64]bool
	ring  []uint64 // acked, oldest first once full
	next  int
}

func newSeen() *seen {
	return &seen{held: map[uint64]bool{}, acked: map[uint64]bool{}, ring: make([]uint64, 0, recentAcks)}
}

// admit is called for each delivery: fresh when it is to be handed out;
// ackAgain when it was already handled here (ack it, do not hand it out).
func (s *seen) admit(seq uint64) (fresh, ackAgain bool) {
	if seq == 0 { // no metadata: cannot tell
		return true, false
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.acked[seq]:
		return false, true
	case s.held[seq]:
		return false, false
	}
	s.held[seq] = true
	return true, false
}

// done forgets a held message; acked ones are remembered for a while.
func (s *seen) done(seq uint64, acked bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.held, seq)
	if !acked {
		return
	}
	if len(s.ring) < cap(s.ring) {
		s.ring = append(s.ring, seq)
	} else {
		delete(s.acked, s.ring[s.next])
		s.ring[s.next] = seq
		s.next = (s.next + 1) % len(s.ring)
	}
	s.acked[seq] = true
}
