package expression

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"

	"github.com/expr-lang/expr"
	exprbuiltin "github.com/expr-lang/expr/builtin"
	"github.com/expr-lang/expr/conf"
	"github.com/flowrun/flowrun/message"
)

// conversions replace expr's int() and string(): expr's int() wraps a
// float out of the int64 range into some other number without a word,
// and its string() prints floats with %v (12345678.0 -> "1.2345678e+07").
// float() and round() stay expr's.
var conversions = []expr.Option{
	replaceBuiltin("int", func(params ...any) (any, error) { return toInt(params[0]) }),
	replaceBuiltin("string", func(params ...any) (any, error) { return message.FormatValue(params[0]), nil }),
}

// replaceBuiltin runs fn in place of expr's builtin name, type-checked
// as the builtin is (so int([1]) is still a compile error).
func replaceBuiltin(name string, fn func(params ...any) (any, error)) expr.Option {
	b := exprbuiltin.Builtins[exprbuiltin.Index[name]]
	return func(c *conf.Config) {
		c.Disabled[name] = true
		c.Functions[name] = &exprbuiltin.Function{Name: name, Func: fn, Types: b.Types, Validate: b.Validate}
	}
}

// int64Bound is 2^63: float64 values in [-2^63, 2^63) fit an int64.
const int64Bound = 1 << 63

// toInt is int(): ints as they are, floats truncated toward zero (as Go
// and expr do), strings of decimal digits parsed as strconv.Atoi does.
// Whatever does not fit an int64 is an error, not a wrapped number.
func toInt(v any) (int, error) {
	switch x := v.(type) {
	case int:
		return x, nil
	case float64:
		if i, ok := floatToInt(x); ok {
			return i, nil
		}
		if math.IsNaN(x) {
			return 0, fmt.Errorf("int(NaN): not a number")
		}
		return 0, fmt.Errorf("int(%s): out of the int64 range", message.FormatValue(x))
	case string:
		i, err := strconv.Atoi(x)
		if errors.Is(err, strconv.ErrRange) {
			return 0, fmt.Errorf("int(%q): out of the int64 range", x)
		} else if err != nil {
			return 0, fmt.Errorf("int(%q): not an integer (decimal digits with an optional sign)", x)
		}
		return i, nil
	}
	// Other Go number types come only from Go code, never from a payload.
	switch rv := reflect.ValueOf(v); rv.Kind() {
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return int(rv.Int()), nil
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr:
		if u := rv.Uint(); u <= math.MaxInt64 {
			return int(u), nil
		}
		return 0, fmt.Errorf("int(%d): out of the int64 range", rv.Uint())
	case reflect.Float32:
		return toInt(rv.Float())
	}
	return 0, fmt.Errorf("int() of %s: want a number or a string of digits", A(v))
}

// floatToInt truncates f toward zero when the result fits an int.
func floatToInt(f float64) (int, bool) {
	if f >= -int64Bound && f < int64Bound { // false for NaN
		return int(f), true
	}
	return 0, false
}
