package message

import (
	"math"
	"unsafe"
)

// origin remembers where each value a decode built came from in the raw
// bytes, so that the encoder writes a value the flow carried unchanged as
// the bytes it was read as: an integer beyond int64 keeps its digits, a
// string its escapes and invalid UTF-8, an object its key order and
// spacing. A value is "unchanged" when it is the very value decode
// built (the same interface data pointer), whatever object it now sits
// in: `{"id": payload.id}` writes id's original bytes.
//
// Every value decode built has a slot in the origin's chunks, and the
// slot alone says where the value was read, so that a decoded event costs
// little more memory than boxing its values does (a batch holds
// thousands). A string or number is boxed in its slot: a string without
// escapes is raw's own bytes between its quotes; a number's slot points
// at its first digit in raw; only an escaped string, rare, takes a second
// slot for its span. An object or list's slot holds its pointer and its
// span. One origin serves one message and is used by one goroutine at a
// time (the message's).
type origin struct {
	rawp unsafe.Pointer // the raw bytes (a pointer and a length: the
	rawn int            // origin of a whole decode fits 224 bytes)
	vals []slot         // the chunk decode adds slots to now
	more *overflow      // the rare rest: nil for most events
}

// overflow is what an origin needs only for large payloads.
type overflow struct {
	full    [][]slot                // chunks filled before vals: slots never move, boxes point at them
	index   map[unsafe.Pointer]span // containers by pointer, once there are many
	indexed int                     // slots when index was built
	// members, for the payload of a batch's reduce (an origin of no raw
	// bytes of its own), are the messages its values came from.
	members *members
}

// slot is one value. A string's slot is its string header (p its bytes,
// n its length), so a box points at the slot; a number's slot holds its
// bits in n, the box points at n, and p points at the number in raw; an
// object's or list's holds its map or boxed slice in p and its packed
// span in n, as does the slot after an escaped string's (p nil).
type slot struct {
	p unsafe.Pointer
	n uint64
}

const slotSize = unsafe.Sizeof(slot{})

// span is a value's bytes in raw: raw[off:end].
type span struct{ off, end uint32 }

func (s span) pack() uint64 { return uint64(s.off)<<32 | uint64(s.end) }

func unpack(n uint64) span { return span{uint32(n >> 32), uint32(n)} }

// wholeOrigin is an origin with the first chunk of a whole decode in its
// own allocation: a flat event of up to 11 values (strings, numbers, the
// object and a list) fits, in 224 bytes.
type wholeOrigin struct {
	origin
	vals0 [11]slot
}

func newOrigin(raw []byte) *origin {
	o := &wholeOrigin{}
	o.init(raw, o.vals0[:0])
	return &o.origin
}

func (o *origin) init(raw []byte, vals []slot) {
	o.rawp, o.rawn, o.vals = unsafe.Pointer(unsafe.SliceData(raw)), len(raw), vals
}

// raw is the bytes the values were decoded from.
func (o *origin) raw() []byte { return unsafe.Slice((*byte)(o.rawp), o.rawn) }

// tracked reports whether spans fit the raw bytes: the values of a
// payload of 4 GiB or more are written as computed ones are.
func (o *origin) tracked() bool { return o != nil && o.rawn < math.MaxUint32 }

// inRaw returns p's offset in raw, false when p points elsewhere.
func (o *origin) inRaw(p unsafe.Pointer) (int, bool) {
	off := uintptr(p) - uintptr(o.rawp)
	return int(off), off < uintptr(o.rawn)
}

// room returns n fresh slots, adjacent, in the current chunk.
func (o *origin) room(n int) []slot {
	if cap(o.vals)-len(o.vals) < n {
		if o.more == nil {
			o.more = &overflow{}
		}
		o.more.full = append(o.more.full, o.vals)
		o.vals = make([]slot, 0, max(8, 2*cap(o.vals)))
	}
	o.vals = o.vals[:len(o.vals)+n]
	return o.vals[len(o.vals)-n:]
}

// boxString boxes s, read from raw[off:end]: s is raw's bytes when it
// had no escapes (see jsonDecoder.str), else a copy, whose span is kept.
func (o *origin) boxString(s string, off, end int) any {
	p := unsafe.Pointer(unsafe.StringData(s))
	if _, plain := o.inRaw(p); plain {
		sl := o.room(1)
		sl[0] = slot{p, uint64(len(s))}
		return box(stringType, unsafe.Pointer(&sl[0]))
	}
	sl := o.room(2)
	sl[0] = slot{p, uint64(len(s))}
	sl[1] = slot{nil, span{uint32(off), uint32(end)}.pack()}
	return box(stringType, unsafe.Pointer(&sl[0]))
}

// boxNumber boxes an int or a float64 (typ) read at raw[off].
func (o *origin) boxNumber(typ unsafe.Pointer, bits uint64, off int) any {
	sl := o.room(1)
	sl[0] = slot{unsafe.Add(o.rawp, off), bits}
	return box(typ, unsafe.Pointer(&sl[0].n))
}

// addContainer remembers the bytes of an object or list v decode built.
func (o *origin) addContainer(v any, off, end int) {
	o.room(1)[0] = slot{dataOf(v), span{uint32(off), uint32(end)}.pack()}
}

// scalarBytes returns the raw bytes of a string or number decode built.
func (o *origin) scalarBytes(v any) ([]byte, bool) {
	if !o.tracked() {
		return nil, false
	}
	e := (*eface)(unsafe.Pointer(&v))
	switch e.typ {
	case stringType:
		c, i := o.slotAt(e.data)
		if c == nil {
			return nil, false
		}
		if off, plain := o.inRaw(c[i].p); plain { // between its quotes
			return o.raw()[off-1 : off+int(c[i].n)+1], true
		}
		sp := unpack(c[i+1].n)
		return o.raw()[sp.off:sp.end], true
	case intType, floatType:
		c, i := o.slotAt(unsafe.Add(e.data, -int(unsafe.Offsetof(slot{}.n))))
		if c == nil {
			return nil, false
		}
		off, _ := o.inRaw(c[i].p)
		raw := o.raw()
		return raw[off:numberEnd(raw, off)], true
	}
	return nil, false
}

// numberEnd is the end of the number at raw[off]. In a payload that
// decoded, a number is followed by spacing, ',', ']', '}' or the end,
// none of which a number holds.
func numberEnd(raw []byte, off int) int {
	for off < len(raw) {
		switch c := raw[off]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
			off++
		default:
			return off
		}
	}
	return off
}

// containerSpan returns the span of an object or list decode built.
func (o *origin) containerSpan(v any) (span, bool) {
	if !o.tracked() {
		return span{}, false
	}
	p := dataOf(v)
	if o.more == nil { // one chunk: look through it, the outermost (last) first
		for i := len(o.vals) - 1; i >= 0; i-- {
			if o.vals[i].p == p {
				return unpack(o.vals[i].n), true
			}
		}
		return span{}, false
	}
	x := o.more
	if n := o.slots(); x.indexed != n { // a large payload: look up in O(1)
		x.index = make(map[unsafe.Pointer]span)
		o.eachContainer(func(p unsafe.Pointer, sp span) { x.index[p] = sp })
		x.indexed = n
	}
	sp, ok := x.index[p]
	return sp, ok
}

// eachContainer calls fn with the pointer and span of every object and
// list decode built.
func (o *origin) eachContainer(fn func(p unsafe.Pointer, sp span)) {
	each := func(c []slot) {
		for i, s := range c {
			// Outside raw are the pointers of containers and of
			// escaped strings, whose next slot holds their span.
			_, inRaw := o.inRaw(s.p)
			escaped := i+1 < len(c) && c[i+1].p == nil
			if !inRaw && s.p != nil && !escaped {
				fn(s.p, unpack(s.n))
			}
		}
	}
	if o.more != nil {
		for _, c := range o.more.full {
			each(c)
		}
	}
	each(o.vals)
}

func (o *origin) slots() int {
	n := len(o.vals)
	for _, c := range o.more.full {
		n += len(c)
	}
	return n
}

// slotAt returns the chunk holding the slot p points at and its index,
// nil when p is in no chunk (a value built elsewhere: by an expression,
// by another decode).
func (o *origin) slotAt(p unsafe.Pointer) ([]slot, int) {
	if i := indexIn(o.vals, p); i >= 0 {
		return o.vals, i
	}
	if o.more != nil {
		for _, c := range o.more.full {
			if i := indexIn(c, p); i >= 0 {
				return c, i
			}
		}
	}
	return nil, -1
}

func indexIn(c []slot, p unsafe.Pointer) int {
	if len(c) == 0 {
		return -1
	}
	off := uintptr(p) - uintptr(unsafe.Pointer(unsafe.SliceData(c)))
	if off < uintptr(len(c))*slotSize && off%slotSize == 0 {
		return int(off / slotSize)
	}
	return -1
}

func box(typ, data unsafe.Pointer) any {
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = typ, data
	return v
}

func dataOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).data }
