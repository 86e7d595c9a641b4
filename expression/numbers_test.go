package expression

import (
	"math"
	"strings"
	"testing"
)

// numbers is a payload as the JSON decoder gives it: integers that fit
// int64 as int, other numbers as float64. Values come from the payload,
// not literals, so expr cannot fold them at compile time.
var numberPayload = map[string]any{
	"max": math.MaxInt64, "min": math.MinInt64, "seven": 7, "neg": -7, "zero": 0, "one": 1,
	"f": 2.5, "nf": -1.9, "big": 9223372036854775808.0, "nbig": -9223372036854775808.0,
	"below": 9223372036854774784.0, "e20": 1e20, "nan": math.NaN(), "inf": math.Inf(1),
	"amount": 1306.85, "whole": 12345678.0, "tenth": 0.1, "e21": 1e21,
	"digits": "12", "signed": "-12", "exp": "1e3", "huge": "9223372036854775808", "word": "x",
	"list": []any{1, 2.5}, "t": true,
}

// The number semantics flows get, on the VM and on the fast path alike.
// A want of string type starting with "error: " is an error containing
// the rest.
func TestNumberSemantics(t *testing.T) {
	for _, c := range []struct {
		src  string
		want any
	}{
		// int op int stays int and wraps on overflow, as Go (and expr) do.
		{`payload.seven + payload.one`, 8},
		{`payload.max + 1`, math.MinInt64},
		{`payload.max * 2`, -2},
		{`payload.min - 1`, math.MaxInt64},
		{`-payload.min`, math.MinInt64},
		// A float on either side makes a float.
		{`payload.seven + payload.f`, 9.5},
		{`payload.max + 1.0`, 9223372036854775808.0},
		{`payload.seven * 1.0`, 7.0},
		// / always gives a float; by zero it is an infinity, not an error.
		{`payload.seven / 2`, 3.5},
		{`payload.min / -1`, 9223372036854775808.0},
		{`payload.one / payload.zero`, math.Inf(1)},
		{`payload.f / 0`, math.Inf(1)},
		// % takes ints only; the sign follows the dividend.
		{`payload.seven % 2`, 1},
		{`payload.neg % 2`, -1},
		{`payload.min % -1`, 0},
		{`payload.seven % 2 == 1`, true},
		{`payload.seven % payload.zero`, "error: integer divide by zero"},
		{`payload.f % 2`, "error: a float % an integer"},
		{`payload.whole % 2`, "error: a float % an integer"},
		// ** always gives a float.
		{`payload.seven ** 2`, 49.0},
		{`2 ** payload.seven`, 128.0},
		{`payload.f ** 2`, 6.25},
		// Comparisons: int with int exactly, any mix as float64.
		{`payload.max == payload.max - 1`, false},
		{`payload.max == payload.big`, true},
		{`payload.max > payload.below`, true},
		{`payload.seven == 7.0`, true},
		// int(): truncated toward zero; out of range, NaN and infinities fail.
		{`int(payload.f)`, 2},
		{`int(payload.nf)`, -1},
		{`int(payload.nbig)`, math.MinInt64},
		{`int(payload.below)`, 9223372036854774784},
		{`int(payload.max)`, math.MaxInt64},
		{`int(payload.big)`, "error: int(9223372036854776000): out of the int64 range"},
		{`int(payload.e20)`, "error: int(100000000000000000000): out of the int64 range"},
		{`int(-payload.e20)`, "error: int(-100000000000000000000): out of the int64 range"},
		{`int(payload.e21)`, "error: int(1e+21): out of the int64 range"},
		{`int(payload.nan)`, "error: int(NaN): not a number"},
		{`int(payload.inf)`, "error: int(+Inf): out of the int64 range"},
		{`int(payload.digits)`, 12},
		{`int(payload.signed)`, -12},
		{`int(payload.exp)`, `error: int("1e3"): not an integer`},
		{`int(payload.huge)`, `error: int("9223372036854775808"): out of the int64 range`},
		{`int(payload.word)`, `error: int("x"): not an integer`},
		{`int(payload.list)`, "error: int() of a list"},
		{`int(payload.t)`, "error: int() of a bool"},
		{`int(payload.missing)`, "error: int() of null"},
		{`int(payload.amount * 100)`, 130684},
		{`int(round(payload.amount * 100))`, 130685},
		{`round(payload.seven)`, 7.0},
		// float() is expr's.
		{`float(payload.seven)`, 7.0},
		{`float(payload.exp)`, 1000.0},
		{`float(payload.word)`, "error: float() cannot convert \"x\""},
		// string(): the digits the payload's JSON shows.
		{`string(payload.whole)`, "12345678"},
		{`string(payload.max)`, "9223372036854775807"},
		{`string(payload.tenth)`, "0.1"},
		{`string(payload.e20)`, "100000000000000000000"},
		{`string(payload.e21)`, "1e+21"},
		{`string(payload.amount * 100)`, "130684.99999999999"},
		{`string(payload.nan)`, "NaN"},
		{`string(payload.missing)`, "null"},
		{`string(payload.t)`, "true"},
		{`string(payload.list)`, "[1,2.5]"},
		{`string(payload.digits) + "!"`, "12!"},
	} {
		p := compile(t, c.src, MessageScope)
		env := messageEnv{Payload: numberPayload}
		if p.fast != nil {
			checkAgrees(t, p, env)
		}
		got, err := vmEval(NewRunner(), p, env)
		if want, isErr := c.want.(string); isErr && strings.HasPrefix(want, "error: ") {
			if err == nil || !strings.Contains(err.Error(), strings.TrimPrefix(want, "error: ")) {
				t.Errorf("%s = %#v, %v; want an error with %q", c.src, got, err, strings.TrimPrefix(want, "error: "))
			}
			continue
		}
		if err != nil || !sameValue(got, c.want) {
			t.Errorf("%s = %#v (%T), %v; want %#v (%T)", c.src, got, got, err, c.want, c.want)
		}
	}
}

// int() and string() keep the type checks of expr's builtins.
func TestConversionsTypeCheck(t *testing.T) {
	for _, src := range []string{`int([1])`, `int(true)`, `int(1, 2)`, `string()`} {
		if _, err := Compile(src, MessageScope); err == nil {
			t.Errorf("%s compiled; want a type error", src)
		}
	}
	for _, src := range []string{`int(payload.x) % 2`, `string(payload.x) + "a"`, `int("12") + 1`, `len(string(1.5))`} {
		if _, err := Compile(src, MessageScope); err != nil {
			t.Errorf("%s: %v", src, err)
		}
	}
}
