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
// Strings and numbers are boxed in slots that carry their span; an
// object or list is looked up by its pointer. One origin serves one
// message and is used by one goroutine at a time (the message's).
type origin struct {
	raw     []byte
	strs    [][]strSlot // chunks: a new one when the last is full, so slots never move
	nums    [][]numSlot
	conts   []container
	index   map[unsafe.Pointer]span // conts by pointer, once there are many
	indexed int                     // len(conts) when index was built

	// The first chunks, in the origin's own allocation: most events are small.
	strs0   [4]strSlot
	nums0   [2]numSlot
	strList [1][]strSlot
	numList [1][]numSlot
	conts0  [1]container
}

// span is a value's bytes in raw: raw[off:end].
type span struct{ off, end uint32 }

// strSlot and numSlot start with the value, so a pointer to the slot is a
// pointer to the value an interface boxes.
type strSlot struct {
	s string
	span
}

// numSlot holds an int or a float64's bits; the interface's type says which.
type numSlot struct {
	n uint64
	span
}

// container is an object's map or a list's boxed slice header, and its bytes.
type container struct {
	p unsafe.Pointer
	span
}

func newOrigin(raw []byte) *origin {
	o := &origin{}
	o.init(raw)
	return o
}

func (o *origin) init(raw []byte) {
	o.raw = raw
	o.strs, o.nums = o.strList[:1:1], o.numList[:1:1]
	o.strs[0], o.nums[0] = o.strs0[:0], o.nums0[:0]
	o.conts = o.conts0[:0]
}

// tracked reports whether spans fit the raw bytes: the values of a
// payload of 4 GiB or more are written as computed ones are.
func (o *origin) tracked() bool { return o != nil && len(o.raw) < math.MaxUint32 }

func (o *origin) boxString(s string, off, end int) any {
	last := &o.strs[len(o.strs)-1]
	if len(*last) == cap(*last) {
		o.strs = append(o.strs, make([]strSlot, 0, 2*cap(*last)))
		last = &o.strs[len(o.strs)-1]
	}
	*last = append(*last, strSlot{s, span{uint32(off), uint32(end)}})
	return box(stringType, unsafe.Pointer(&(*last)[len(*last)-1]))
}

func (o *origin) boxNumber(typ unsafe.Pointer, bits uint64, off, end int) any {
	last := &o.nums[len(o.nums)-1]
	if len(*last) == cap(*last) {
		o.nums = append(o.nums, make([]numSlot, 0, 2*cap(*last)))
		last = &o.nums[len(o.nums)-1]
	}
	*last = append(*last, numSlot{bits, span{uint32(off), uint32(end)}})
	return box(typ, unsafe.Pointer(&(*last)[len(*last)-1]))
}

// addContainer remembers the bytes of an object or list v decode built.
func (o *origin) addContainer(v any, off, end int) {
	o.conts = append(o.conts, container{dataOf(v), span{uint32(off), uint32(end)}})
}

// scalarBytes returns the raw bytes of a string or number decode built.
func (o *origin) scalarBytes(v any) ([]byte, bool) {
	if !o.tracked() {
		return nil, false
	}
	e := (*eface)(unsafe.Pointer(&v))
	var sp *span
	switch e.typ {
	case stringType:
		if s := slotAt(o.strs, e.data); s != nil {
			sp = &s.span
		}
	case intType, floatType:
		if s := slotAt(o.nums, e.data); s != nil {
			sp = &s.span
		}
	}
	if sp == nil {
		return nil, false
	}
	return o.raw[sp.off:sp.end], true
}

// containerSpan returns the span of an object or list decode built.
func (o *origin) containerSpan(v any) (span, bool) {
	if !o.tracked() {
		return span{}, false
	}
	p := dataOf(v)
	if len(o.conts) <= 16 {
		for i := len(o.conts) - 1; i >= 0; i-- { // the outermost last: it is the likeliest
			if o.conts[i].p == p {
				return o.conts[i].span, true
			}
		}
		return span{}, false
	}
	if o.indexed != len(o.conts) { // a payload of many objects: look up in O(1)
		o.index = make(map[unsafe.Pointer]span, len(o.conts))
		for _, c := range o.conts {
			o.index[c.p] = c.span
		}
		o.indexed = len(o.conts)
	}
	sp, ok := o.index[p]
	return sp, ok
}

// slotAt returns the slot p points at, nil when p is not in any chunk
// (a value built elsewhere: by an expression, by another decode).
func slotAt[T any](chunks [][]T, p unsafe.Pointer) *T {
	for _, c := range chunks {
		if len(c) == 0 {
			continue
		}
		base := uintptr(unsafe.Pointer(unsafe.SliceData(c)))
		size := unsafe.Sizeof(c[0])
		off := uintptr(p) - base
		if uintptr(p) >= base && off < uintptr(len(c))*size && off%size == 0 {
			return &c[off/size]
		}
	}
	return nil
}

func box(typ, data unsafe.Pointer) any {
	var v any
	e := (*eface)(unsafe.Pointer(&v))
	e.typ, e.data = typ, data
	return v
}

func dataOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).data }
