package message

import (
	"cmp"
	"slices"
	"unsafe"
)

// members is the origin of a payload a batch's reduce built: its values
// came from the payloads of many messages, each with its own origin, so a
// value is looked up in the origin whose chunks (a scalar) or slots (a
// container) hold it. The first lookups scan the members; after a few,
// the chunks are sorted by address and a lookup is a binary search.
type members struct {
	msgs    []*Message
	scanned int                      // lookups done by scanning
	chunks  []chunkAt                // every member's chunks by address, once sorted
	boxes   map[unsafe.Pointer]place // containers by pointer, built when needed
}

// chunkAt is a chunk's addresses. Chunks are heap memory, which does not
// move, kept alive by the members' origins.
type chunkAt struct {
	start, end uintptr
	o          *origin
}

// place is where a container was read: o's raw bytes at sp.
type place struct {
	o  *origin
	sp span
}

// scansBeforeSort is how many lookups scan the members before their
// chunks are sorted: a result with a few values (a count, a key) costs
// no more than a pass over the batch, one with many (batch[i] for every
// i) O(log members) each.
const scansBeforeSort = 8

// scalarOrigin returns the origin of a string or number a member's decode
// built, nil for one built elsewhere.
func (s *members) scalarOrigin(v any) *origin {
	p := dataOf(v)
	if s.scanned < scansBeforeSort {
		s.scanned++
		for _, m := range s.msgs {
			if m.origin.holds(p) {
				return m.origin
			}
		}
		return nil
	}
	if s.chunks == nil {
		s.sortChunks()
	}
	lo, hi := 0, len(s.chunks) // the first chunk ending after p
	for lo < hi {
		mid := int(uint(lo+hi) >> 1)
		if s.chunks[mid].end <= uintptr(p) {
			lo = mid + 1
		} else {
			hi = mid
		}
	}
	if lo < len(s.chunks) && s.chunks[lo].start <= uintptr(p) {
		return s.chunks[lo].o
	}
	return nil
}

func (s *members) sortChunks() {
	add := func(c []slot, o *origin) {
		if len(c) > 0 {
			start, end := chunkRange(c)
			s.chunks = append(s.chunks, chunkAt{start, end, o})
		}
	}
	s.chunks = make([]chunkAt, 0, len(s.msgs))
	for _, m := range s.msgs {
		if o := m.origin; o != nil {
			add(o.vals, o)
			if o.more != nil {
				for _, c := range o.more.full {
					add(c, o)
				}
			}
		}
	}
	byStart := func(a, b chunkAt) int { return cmp.Compare(a.start, b.start) }
	if !slices.IsSortedFunc(s.chunks, byStart) { // decodes in a row often are
		slices.SortFunc(s.chunks, byStart)
	}
	// Messages split from one share its origin: keep each chunk once.
	s.chunks = slices.CompactFunc(s.chunks, func(a, b chunkAt) bool { return a.start == b.start })
}

// holds reports whether p points into one of o's chunks: at a string's
// slot or at a number's bits.
func (o *origin) holds(p unsafe.Pointer) bool {
	if o == nil {
		return false
	}
	in := func(c []slot) bool {
		start, end := chunkRange(c)
		return start <= uintptr(p) && uintptr(p) < end
	}
	if in(o.vals) {
		return true
	}
	if o.more != nil {
		for _, c := range o.more.full {
			if in(c) {
				return true
			}
		}
	}
	return false
}

func chunkRange(c []slot) (start, end uintptr) {
	start = uintptr(unsafe.Pointer(unsafe.SliceData(c)))
	return start, start + uintptr(len(c))*slotSize
}

// container returns where an object or list a member's decode built was
// read. A container's scalars were boxed by the same decode, so the
// origin of the first member scalar found in it is the one to ask; one
// whose first scalars were built elsewhere was built elsewhere too (by
// the reduce, or changed in place by a stage: then its members are
// written as computed ones are, each unchanged value still as its bytes).
// Only a container with no scalar to tell by (empty, or lists of lists)
// is looked up among every member's containers.
func (s *members) container(v any) (place, bool) {
	budget := 16 // values looked at: a container's cost stays O(1) lookups
	o, scalars := s.firstOrigin(v, &budget)
	switch {
	case o != nil:
		sp, ok := o.containerSpan(v)
		return place{o, sp}, ok
	case scalars:
		return place{}, false
	}
	if s.boxes == nil {
		s.indexContainers()
	}
	pl, ok := s.boxes[dataOf(v)]
	return pl, ok
}

// firstOrigin returns the origin of the first member scalar in v,
// depth first, looking at up to budget values; scalars reports whether
// it met any scalar at all.
func (s *members) firstOrigin(v any, budget *int) (o *origin, scalars bool) {
	look := func(x any) bool { // true: stop
		if *budget <= 0 {
			return true
		}
		*budget--
		switch x.(type) {
		case string, int, float64:
			scalars = true
			o = s.scalarOrigin(x)
		case map[string]any, []any:
			var sc bool
			o, sc = s.firstOrigin(x, budget)
			scalars = scalars || sc
		}
		return o != nil
	}
	switch v := v.(type) {
	case map[string]any:
		for _, x := range v {
			if look(x) {
				break
			}
		}
	case []any:
		for _, x := range v {
			if look(x) {
				break
			}
		}
	}
	return o, scalars
}

// indexContainers indexes every container the members' decodes built.
func (s *members) indexContainers() {
	s.boxes = make(map[unsafe.Pointer]place)
	for _, m := range s.msgs {
		if o := m.origin; o.tracked() {
			o.eachContainer(func(p unsafe.Pointer, sp span) { s.boxes[p] = place{o, sp} })
		}
	}
}

// TakeFrom says that m's payload was built by a batch's reduce over the
// payloads of msgs, decoded: Encode (and Format) then write each value it
// took from one of them unchanged as the bytes that value was read as.
// m keeps msgs decoded until ReleaseMembers.
func (m *Message) TakeFrom(msgs []*Message) {
	m.origin = &origin{more: &overflow{members: &members{msgs: msgs}}}
}

// ReleaseMembers ends TakeFrom once m is encoded: the members are
// undecoded (see Undecode), as they are kept only for their
// acknowledgement until m is written.
func (m *Message) ReleaseMembers() {
	if m.origin == nil || m.origin.more == nil || m.origin.more.members == nil {
		return
	}
	for _, x := range m.origin.more.members.msgs {
		x.Undecode()
	}
	m.origin = nil
}

// encoder is the encoder of m's payload.
func (m *Message) encoder() encoder {
	if o := m.origin; o != nil && o.more != nil && o.more.members != nil {
		return encoder{from: o.more.members}
	}
	return encoder{o: m.origin}
}
