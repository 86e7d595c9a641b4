package message

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	json "github.com/goccy/go-json"
)

// appendJSON appends v as compact JSON. Plain values (what decoding and
// expressions produce) are written directly, with map keys sorted as
// encoding/json does; anything else goes through goccy/go-json. Unlike
// encoding/json, <, > and & are not escaped: payloads are data, not HTML.
func appendJSON(b []byte, v any) ([]byte, error) { return encoder{}.value(b, v) }

// encoder writes values; with an origin, a value decode built is written
// as the bytes it was read as (see origin), and an object decode built
// keeps its key order and spacing, with changed members written anew,
// removed ones left out and added ones after the rest, sorted.
type encoder struct {
	o *origin
	// from, for the payload of a batch's reduce, finds the origin of a
	// value taken from one of the batch's messages.
	from *members
	// lenient never fails: a float JSON cannot hold, or a value it cannot
	// encode, is written as a string of its text (for FormatValue).
	lenient bool
}

func (e encoder) value(b []byte, val any) ([]byte, error) {
	switch v := val.(type) { // val, not v, is the boxed value origin knows
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case string:
		if raw, ok := e.scalarBytes(val); ok {
			return append(b, raw...), nil
		}
		return appendJSONString(b, v), nil
	case float64:
		if raw, ok := e.scalarBytes(val); ok {
			return append(b, raw...), nil
		}
		if e.lenient && (math.IsNaN(v) || math.IsInf(v, 0)) {
			return appendJSONString(b, string(appendFloat(nil, v))), nil
		}
		return appendJSONFloat(b, v)
	case int:
		if raw, ok := e.scalarBytes(val); ok {
			return append(b, raw...), nil
		}
		return strconv.AppendInt(b, int64(v), 10), nil
	case int64:
		return strconv.AppendInt(b, v, 10), nil
	case map[string]any:
		if d, sp, ok := e.container(val); ok {
			return d.decodedObject(b, v, sp)
		}
		return e.object(b, v)
	case map[string]string:
		keys := sortedKeys(v)
		b = append(b, '{')
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSONString(b, v[k])
		}
		return append(b, '}'), nil
	case []any:
		if d, sp, ok := e.container(val); ok {
			return d.decodedList(b, v, sp)
		}
		return e.list(b, v)
	case *Fields: // a Fields payload is the raw object, unchanged
		return append(b, v.origin.raw()...), nil
	}
	enc, err := json.MarshalWithOption(val, json.DisableHTMLEscape())
	if err != nil && e.lenient {
		return appendJSONString(b, fmt.Sprint(val)), nil
	}
	if err != nil {
		return b, err
	}
	return append(b, enc...), nil
}

// scalarBytes returns the raw bytes of a string or number a decode built.
func (e encoder) scalarBytes(v any) ([]byte, bool) {
	if raw, ok := e.o.scalarBytes(v); ok || e.from == nil {
		return raw, ok
	}
	return e.from.scalarOrigin(v).scalarBytes(v)
}

// container returns the encoder for the bytes of an object or list a
// decode built, and its span in them.
func (e encoder) container(v any) (encoder, span, bool) {
	if sp, ok := e.o.containerSpan(v); ok || e.from == nil {
		return e, sp, ok
	}
	pl, ok := e.from.container(v)
	e.o = pl.o
	return e, pl.sp, ok
}

func (e encoder) list(b []byte, l []any) ([]byte, error) {
	b = append(b, '[')
	for i, v := range l {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = e.value(b, v); err != nil {
			return b, err
		}
	}
	return append(b, ']'), nil
}

func (e encoder) object(b []byte, m map[string]any) ([]byte, error) {
	var stack [16]string
	keys := stack[:0]
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	b = append(b, '{')
	for i, k := range keys {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendJSONString(b, k)
		b = append(b, ':')
		var err error
		if b, err = e.value(b, m[k]); err != nil {
			return b, err
		}
	}
	return append(b, '}'), nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// appendJSONFloat writes f as encoding/json does (ES6 number formatting).
func appendJSONFloat(b []byte, f float64) ([]byte, error) {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return b, &json.UnsupportedValueError{Str: strconv.FormatFloat(f, 'g', -1, 64)}
	}
	abs := math.Abs(f)
	format := byte('f')
	if abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' { // clean up e-09 to e-9
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b, nil
}

const hexDigits = "0123456789abcdef"

// appendJSONString writes s quoted and escaped; invalid UTF-8 becomes
// U+FFFD, and U+2028/U+2029 are escaped, as encoding/json does.
func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
