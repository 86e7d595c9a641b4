package message

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
	"unsafe"
)

// decodeJSON parses one JSON value into plain Go values (map[string]any,
// []any, string, float64, bool, nil), as encoding/json does into an any.
// It is the hot path of every flow that reads payloads, so strings and
// object keys without escapes share data's memory instead of being copied:
// data must never be modified afterwards (Message.Raw never is).
func decodeJSON(data []byte) (any, error) { return decodeInto(newOrigin(data)) }

// decodeInto decodes o.raw(), recording in o where each value came from.
func decodeInto(o *origin) (any, error) {
	d := jsonDecoder{data: o.raw(), o: o}
	d.skipSpace()
	v, err := d.value(0)
	if err != nil {
		return nil, err
	}
	d.skipSpace()
	if d.pos != len(d.data) {
		return nil, d.errorf("unexpected %q after the top-level value", d.data[d.pos])
	}
	return v, nil
}

// maxJSONDepth bounds nesting so hostile input cannot exhaust the stack.
const maxJSONDepth = 1000

type jsonDecoder struct {
	data []byte
	pos  int
	o    *origin // where the values are boxed and their spans recorded
}

// eface is the layout of an interface value (any).
type eface struct {
	typ  unsafe.Pointer
	data unsafe.Pointer
}

var (
	stringType = typeOf("")
	floatType  = typeOf(0.0)
	intType    = typeOf(0)
)

func typeOf(v any) unsafe.Pointer { return (*eface)(unsafe.Pointer(&v)).typ }

var errJSONEnd = errors.New("unexpected end of JSON input")

func (d *jsonDecoder) errorf(format string, args ...any) error {
	return fmt.Errorf("invalid JSON at offset %d: %s", d.pos, fmt.Sprintf(format, args...))
}

func (d *jsonDecoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *jsonDecoder) value(depth int) (any, error) {
	if d.pos >= len(d.data) {
		return nil, errJSONEnd
	}
	switch c := d.data[d.pos]; {
	case c == '{':
		return d.object(depth + 1)
	case c == '[':
		return d.array(depth + 1)
	case c == '"':
		start := d.pos
		s, err := d.str()
		if err != nil {
			return nil, err
		}
		// Boxing each string would allocate once per value; the origin's
		// slots allocate once per chunk, and know the string's bytes.
		return d.o.boxString(s, start, d.pos), nil
	case c == '-' || c >= '0' && c <= '9':
		return d.number()
	case c == 't':
		return true, d.literal("true")
	case c == 'f':
		return false, d.literal("false")
	case c == 'n':
		return nil, d.literal("null")
	default:
		return nil, d.errorf("unexpected %q", c)
	}
}

func (d *jsonDecoder) literal(word string) error {
	if len(d.data)-d.pos < len(word) || string(d.data[d.pos:d.pos+len(word)]) != word {
		return d.errorf("expected %s", word)
	}
	d.pos += len(word)
	return nil
}

func (d *jsonDecoder) object(depth int) (any, error) {
	start := d.pos
	obj := make(map[string]any, 8)
	err := d.members(depth, func(key string) error {
		v, err := d.value(depth)
		obj[key] = v
		return err
	})
	if err != nil {
		return nil, err
	}
	var v any = obj
	d.o.addContainer(v, start, d.pos)
	return v, nil
}

func (d *jsonDecoder) array(depth int) (any, error) {
	start := d.pos
	arr := make([]any, 0, 4)
	err := d.elements(depth, func() error {
		v, err := d.value(depth)
		arr = append(arr, v)
		return err
	})
	if err != nil {
		return nil, err
	}
	var v any = arr
	d.o.addContainer(v, start, d.pos)
	return v, nil
}

// members reads the members of an object at d.pos (on the '{'), calling
// member with d.pos on each value, which it must consume.
func (d *jsonDecoder) members(depth int, member func(key string) error) error {
	if depth > maxJSONDepth {
		return d.errorf("nested deeper than %d", maxJSONDepth)
	}
	d.pos++ // {
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		return nil
	}
	for {
		if d.pos >= len(d.data) {
			return errJSONEnd
		}
		if d.data[d.pos] != '"' {
			return d.errorf("expected a string key, got %q", d.data[d.pos])
		}
		key, err := d.str()
		if err != nil {
			return err
		}
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return d.errorf("expected ':' after key %q", key)
		}
		d.pos++
		d.skipSpace()
		if err := member(key); err != nil {
			return err
		}
		d.skipSpace()
		if d.pos >= len(d.data) {
			return errJSONEnd
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
			d.skipSpace()
		case '}':
			d.pos++
			return nil
		default:
			return d.errorf("expected ',' or '}' in object, got %q", d.data[d.pos])
		}
	}
}

// elements reads the elements of a list at d.pos (on the '['), calling
// element with d.pos on each, which it must consume.
func (d *jsonDecoder) elements(depth int, element func() error) error {
	if depth > maxJSONDepth {
		return d.errorf("nested deeper than %d", maxJSONDepth)
	}
	d.pos++ // [
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		return nil
	}
	for {
		if err := element(); err != nil {
			return err
		}
		d.skipSpace()
		if d.pos >= len(d.data) {
			return errJSONEnd
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
			d.skipSpace()
		case ']':
			d.pos++
			return nil
		default:
			return d.errorf("expected ',' or ']' in array, got %q", d.data[d.pos])
		}
	}
}

// str reads a string at d.pos (on the opening quote).
func (d *jsonDecoder) str() (string, error) {
	start := d.pos + 1
	for i := start; i < len(d.data); i++ {
		switch c := d.data[i]; {
		case c == '"':
			d.pos = i + 1
			// Even an empty string points into data: the origin knows a
			// string without escapes by that (origin.boxString).
			return unsafe.String(&d.data[start], i-start), nil
		case c == '\\':
			return d.escapedStr(start, i)
		case c < 0x20:
			d.pos = i
			return "", d.errorf("control character %q in string", c)
		}
	}
	d.pos = len(d.data)
	return "", errJSONEnd
}

// escapedStr decodes a string with escapes; the plain prefix is data[start:i].
func (d *jsonDecoder) escapedStr(start, i int) (string, error) {
	buf := make([]byte, 0, i-start+16)
	buf = append(buf, d.data[start:i]...)
	for i < len(d.data) {
		c := d.data[i]
		switch {
		case c == '"':
			d.pos = i + 1
			return string(buf), nil
		case c < 0x20:
			d.pos = i
			return "", d.errorf("control character %q in string", c)
		case c != '\\':
			buf = append(buf, c)
			i++
			continue
		}
		if i+1 >= len(d.data) {
			d.pos = len(d.data)
			return "", errJSONEnd
		}
		switch e := d.data[i+1]; e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, n, err := d.unicodeEscape(i)
			if err != nil {
				return "", err
			}
			buf = utf8.AppendRune(buf, r)
			i += n
			continue
		default:
			d.pos = i
			return "", d.errorf("invalid escape \\%c", e)
		}
		i += 2
	}
	d.pos = len(d.data)
	return "", errJSONEnd
}

// unicodeEscape reads \uXXXX (and a following low surrogate) at i; it
// returns the rune and the bytes consumed. Lone surrogates become U+FFFD.
func (d *jsonDecoder) unicodeEscape(i int) (rune, int, error) {
	r, ok := hex4(d.data, i+2)
	if !ok {
		d.pos = i
		return 0, 0, d.errorf("invalid \\u escape")
	}
	if utf16.IsSurrogate(r) {
		if lo, ok := hex4(d.data, i+8); ok && d.data[i+6] == '\\' && d.data[i+7] == 'u' {
			if dec := utf16.DecodeRune(r, lo); dec != utf8.RuneError {
				return dec, 12, nil
			}
		}
		return utf8.RuneError, 6, nil
	}
	return r, 6, nil
}

func hex4(b []byte, i int) (rune, bool) {
	if i+4 > len(b) {
		return 0, false
	}
	var r rune
	for _, c := range b[i : i+4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			c = c - 'A' + 10
		default:
			return 0, false
		}
		r = r<<4 | rune(c)
	}
	return r, true
}

// number reads a JSON number (strict grammar): an integer that fits
// int64 as an int (expr's integer type), anything else as a float64.
func (d *jsonDecoder) number() (any, error) {
	start := d.pos
	f, n, isInt, err := d.parseNumber()
	switch {
	case err != nil:
		return nil, err
	case isInt:
		return d.o.boxNumber(intType, uint64(n), start), nil
	}
	return d.o.boxNumber(floatType, math.Float64bits(f), start), nil
}

// parseNumber reads a JSON number (strict grammar): an integer literal
// that fits int64 as n with isInt, anything else as f.
func (d *jsonDecoder) parseNumber() (f float64, n int, isInt bool, err error) {
	start, i := d.pos, d.pos
	digits := func() int {
		n := 0
		for i < len(d.data) && d.data[i] >= '0' && d.data[i] <= '9' {
			i++
			n++
		}
		return n
	}
	if d.data[i] == '-' {
		i++
	}
	switch {
	case i < len(d.data) && d.data[i] == '0':
		i++
	case digits() == 0:
		d.pos = i
		return 0, 0, false, d.errorf("invalid number")
	}
	integer := true
	if i < len(d.data) && d.data[i] == '.' {
		i++
		integer = false
		if digits() == 0 {
			d.pos = i
			return 0, 0, false, d.errorf("invalid number: no digits after '.'")
		}
	}
	if i < len(d.data) && (d.data[i] == 'e' || d.data[i] == 'E') {
		i++
		integer = false
		if i < len(d.data) && (d.data[i] == '+' || d.data[i] == '-') {
			i++
		}
		if digits() == 0 {
			d.pos = i
			return 0, 0, false, d.errorf("invalid number: no digits in exponent")
		}
	}
	d.pos = i
	lit := d.data[start:i]
	if integer {
		if n, ok := parseInt(lit); ok {
			return 0, n, true, nil
		}
	}
	if f, ok := shortNumber(lit); ok {
		return f, 0, false, nil
	}
	f, err = strconv.ParseFloat(unsafe.String(&d.data[start], i-start), 64)
	if err != nil {
		return 0, 0, false, d.errorf("number %s out of range", lit)
	}
	return f, 0, false, nil
}

// parseInt converts a valid JSON integer literal, reporting false when it
// does not fit int64 (it is then a float64, its digits kept by the raw
// bytes the encoder writes back).
func parseInt(b []byte) (int, bool) {
	neg := b[0] == '-'
	if neg {
		b = b[1:]
	}
	if len(b) > 19 {
		return 0, false
	}
	var u uint64
	for _, c := range b {
		u = u*10 + uint64(c-'0') // 19 digits cannot overflow uint64
	}
	switch {
	case neg && u <= 1<<63:
		return int(-u), true //nolint:gosec // -2^63 wraps to itself, as wanted
	case !neg && u < 1<<63:
		return int(u), true
	}
	return 0, false
}

// exactPow10 are the powers of ten a float64 holds exactly.
var exactPow10 = [...]float64{1, 1e1, 1e2, 1e3, 1e4, 1e5, 1e6, 1e7, 1e8, 1e9, 1e10, 1e11, 1e12, 1e13, 1e14, 1e15}

// shortNumber converts a valid JSON number without exponent and with at
// most 15 digits, the usual ids, counts and amounts of events: the digits
// and the power of ten are then exact float64s, so one division is
// correctly rounded and gives what ParseFloat gives, without its general
// parsing (Clinger's fast path).
func shortNumber(b []byte) (float64, bool) {
	var mant uint64
	digits, frac, neg, dot := 0, 0, false, false
	for _, c := range b {
		switch {
		case c >= '0' && c <= '9':
			mant = mant*10 + uint64(c-'0')
			digits++
			if dot {
				frac++
			}
		case c == '.':
			dot = true
		case c == '-':
			neg = true
		default: // an exponent
			return 0, false
		}
	}
	if digits > 15 {
		return 0, false
	}
	f := float64(mant) / exactPow10[frac]
	if neg {
		f = -f
	}
	return f, true
}
