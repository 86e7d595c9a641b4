package message

import "fmt"

// Fields is a JSON object decoded only in the top-level fields a flow
// reads; the other fields are checked and skipped. Building a Go map was
// most of the cost of decoding a small event. It is the payload only of
// flows whose every expression reads the payload by field name (the
// compiler decides, see compiler.Flow.PayloadFields); whatever needs the
// whole object gets it from Map.
type Fields struct {
	names  []string // the flow's, shared by every message
	values []any    // indexed like names; nil when absent (or null)
	// In the same allocation: the values of up to 6 names, and the
	// origin with the first slots the decoder boxes strings and numbers in.
	inline [6]any
	origin origin
	slots  [5]slot
	whole  any // what Map decoded
}

// Get returns the value of a top-level field, nil when absent, and
// false when the flow does not read that field (it was not decoded).
func (f *Fields) Get(name string) (any, bool) {
	for i, n := range f.names {
		if n == name {
			return f.values[i], true
		}
	}
	return nil, false
}

// Map decodes the whole object, as Decode would have, once: every later
// call gives the same object. The values it builds are recorded in the
// message's origin, so the encoder still knows their original bytes.
func (f *Fields) Map() (any, error) {
	if f.whole == nil {
		v, err := decodeInto(&f.origin)
		if err != nil {
			return nil, err
		}
		f.whole = v
	}
	return f.whole, nil
}

// DecodeFields sets m.Payload from m.Raw once: a *Fields of names when
// Raw is a JSON object, else (a list, a string...) the decoded value.
// Every byte is checked as Decode checks it: what Decode refuses,
// DecodeFields refuses with the same error. Without names, or for
// another codec, it is Decode.
func (c Codec) DecodeFields(m *Message, names []string) error {
	if m.Decoded {
		return nil
	}
	if c != JSON || names == nil {
		return c.Decode(m)
	}
	v, o, err := decodeFields(m.Raw, names)
	if err != nil {
		return fmt.Errorf("decode json: %w", err)
	}
	m.Payload, m.Decoded, m.origin = v, true, o
	return nil
}

func decodeFields(data []byte, names []string) (any, *origin, error) {
	d := jsonDecoder{data: data}
	d.skipSpace()
	if d.pos >= len(d.data) || d.data[d.pos] != '{' {
		o := newOrigin(data)
		v, err := decodeInto(o)
		return v, o, err
	}
	f := &Fields{names: names}
	if len(names) <= len(f.inline) {
		f.values = f.inline[:len(names)]
	} else {
		f.values = make([]any, len(names))
	}
	f.origin.init(data, f.slots[:0])
	d.o = &f.origin
	if err := d.fields(f); err != nil {
		return nil, nil, err
	}
	d.skipSpace()
	if d.pos != len(d.data) {
		return nil, nil, d.errorf("unexpected %q after the top-level value", d.data[d.pos])
	}
	return f, &f.origin, nil
}

// fields is object for the top level of a Fields: the values of names
// are decoded (the last of equal keys wins, as in a map), the rest skipped.
func (d *jsonDecoder) fields(f *Fields) error {
	return d.members(1, func(key string) error {
		for i, n := range f.names {
			if n == key {
				v, err := d.value(1)
				f.values[i] = v
				return err
			}
		}
		return d.skip(1)
	})
}

// skip checks the value at d.pos as value would decode it, building nothing.
func (d *jsonDecoder) skip(depth int) error {
	if d.pos >= len(d.data) {
		return errJSONEnd
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.members(depth+1, func(string) error { return d.skip(depth + 1) })
	case c == '[':
		return d.elements(depth+1, func() error { return d.skip(depth + 1) })
	case c == '"':
		_, err := d.str()
		return err
	case c == '-' || c >= '0' && c <= '9':
		_, _, _, err := d.parseNumber()
		return err
	case c == 't':
		return d.literal("true")
	case c == 'f':
		return d.literal("false")
	case c == 'n':
		return d.literal("null")
	default:
		return d.errorf("unexpected %q", c)
	}
}
