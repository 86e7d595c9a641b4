package message

import (
	"fmt"
	"math"
	"strconv"
)

// FormatValue is the one text form of a value wherever flowrun turns one
// into a string: expr's string(), metadata, keys, partition_by and
// dedupe keys, log fields. Strings are as they are; ints are decimal
// digits; a float64 is written as the JSON encoder writes it (shortest
// form, ES6 style: 12345678.0 -> "12345678", 0.1 -> "0.1", 1e21 ->
// "1e+21"), so one number reads the same in the payload and in its
// metadata; NaN and infinities, which JSON cannot hold, are "NaN",
// "+Inf" and "-Inf". bool and nil are "true", "false" and "null";
// lists and objects are compact JSON with sorted keys.
func FormatValue(v any) string {
	switch v := v.(type) {
	case string:
		return v
	case []byte:
		return string(v)
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case int:
		return strconv.Itoa(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return string(appendFloat(nil, v))
	case []any, map[string]any, map[string]string:
		return string(appendValue(nil, v))
	case fmt.Stringer: // time.Time, time.Duration: as expr prints them
		return v.String()
	}
	if b, err := appendJSON(nil, v); err == nil {
		return string(b)
	}
	return fmt.Sprint(v)
}

// Format is FormatValue for a value of m's: a number m's payload carried
// unchanged is written as it was read, so an id beyond int64 (a float64
// in expressions) and 1.50 read the same in metadata and in the payload.
func (m *Message) Format(v any) string {
	switch v.(type) {
	case int, float64:
		if raw, ok := m.encoder().scalarBytes(v); ok {
			return string(raw)
		}
	}
	return FormatValue(v)
}

// appendFloat is appendJSONFloat with NaN and infinities spelt out.
func appendFloat(b []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return strconv.AppendFloat(b, f, 'g', -1, 64)
	}
	b, _ = appendJSONFloat(b, f) // fails only on NaN and infinities
	return b
}

// Formatted is a value to log: a text log shows it as FormatValue does,
// a JSON log as JSON (numbers as numbers, objects as objects), both with
// the same digits.
type Formatted struct{ V any }

func (f Formatted) MarshalText() ([]byte, error) { return []byte(FormatValue(f.V)), nil }
func (f Formatted) MarshalJSON() ([]byte, error) { return appendValue(nil, f.V), nil }

// appendValue writes v as compact JSON as appendJSON does, except that it
// never fails (see encoder.lenient).
func appendValue(b []byte, v any) []byte {
	b, _ = encoder{lenient: true}.value(b, v)
	return b
}
