package message

import (
	"encoding/json"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"unicode/utf8"
)

var jsonCases = []string{
	`{"id":"p-1","user":"u-2","amount":123.45,"currency":"EUR","tags":["a","b"],"ok":true,"n":null}`,
	` [1, -2.5e3, 0, -0, 1E+2, 0.5e-1] `,
	`"plain"`, `"esc\"aped\\ \/ \b\f\n\r\t"`, `"\u00e9\u4e2d\ud83d\ude00"`, `"lone \ud800 surrogate"`,
	`{}`, `[]`, `{"a":{"b":{"c":[{}]}}}`, `true`, `false`, `null`, `{"dup":1,"dup":2}`, `"ünïcödé raw"`,
}

var badJSON = []string{
	``, ` `, `{`, `[1,`, `{"a"}`, `{"a":}`, `{a:1}`, `[1 2]`, `01`, `1.`, `.5`, `-`, `1e`, `+1`, `tru`, `nul`,
	`"unterminated`, `"bad \x escape"`, "\"ctl \x01\"", `{"a":1,}`, `[1,]`, `1 2`, `"\u12"`, `NaN`, `Infinity`, `0x10`,
}

func TestDecodeJSONMatchesEncodingJSON(t *testing.T) {
	for _, c := range jsonCases {
		want, err := stdDecode([]byte(c))
		if err != nil {
			t.Fatalf("test case %q: %v", c, err)
		}
		got, err := decodeJSON([]byte(c))
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v (%v), want %#v", c, got, err, want)
		}
	}
	for _, c := range badJSON {
		if v, err := decodeJSON([]byte(c)); err == nil {
			t.Errorf("%q: accepted as %#v", c, v)
		}
	}
}

// stdDecode decodes as flowrun promises to, with encoding/json: integers
// that fit int64 as int, other numbers as float64.
func stdDecode(data []byte) (any, error) {
	dec := json.NewDecoder(strings.NewReader(string(data)))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, fmt.Errorf("more after the value: %v", err)
	}
	return numbers(v)
}

func numbers(v any) (any, error) {
	switch v := v.(type) {
	case json.Number:
		if !strings.ContainsAny(string(v), ".eE") {
			if n, err := v.Int64(); err == nil {
				return int(n), nil
			}
		}
		return v.Float64()
	case map[string]any:
		for k, e := range v {
			n, err := numbers(e)
			if err != nil {
				return nil, err
			}
			v[k] = n
		}
	case []any:
		for i, e := range v {
			n, err := numbers(e)
			if err != nil {
				return nil, err
			}
			v[i] = n
		}
	}
	return v, nil
}

func TestDecodeJSONDepthLimit(t *testing.T) {
	deep := strings.Repeat("[", maxJSONDepth+1) + strings.Repeat("]", maxJSONDepth+1)
	if _, err := decodeJSON([]byte(deep)); err == nil || !strings.Contains(err.Error(), "nested deeper") {
		t.Fatalf("err %v", err)
	}
}

func FuzzDecodeJSON(f *testing.F) {
	for _, c := range append(jsonCases, badJSON...) {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := decodeJSON(data)
		want, wantErr := stdDecode(data)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%q: decodeJSON err %v, encoding/json err %v", data, err, wantErr)
		}
		// encoding/json replaces invalid UTF-8; flowrun keeps the bytes.
		if err == nil && utf8.Valid(data) && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %#v, want %#v", data, got, want)
		}
	})
}

// shortNumber gives ParseFloat's value bit for bit on the numbers it
// takes, and leaves longer ones and exponents to ParseFloat.
func TestShortNumberMatchesParseFloat(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 5))
	fixed := []string{"0", "-0", "0.1", "0.3", "1234.56", "-1234.56", "999999999999999", "0.000000000000001", "123456789.012345", "9007199254740993", "1e5", "0.1234567890123456"}
	for i := 0; i < 200000; i++ {
		var s string
		if i < len(fixed) {
			s = fixed[i]
		} else {
			all := strconv.FormatUint(rng.Uint64(), 10)
			digits := all[:min(len(all), 1+rng.IntN(17))]
			if dot := rng.IntN(len(digits) + 1); dot < len(digits) {
				if dot == 0 {
					digits = "0." + digits
				} else if digits[0] != '0' {
					digits = digits[:dot] + "." + digits[dot:]
				}
			}
			if digits[0] == '0' && len(digits) > 1 && digits[1] != '.' {
				continue // not JSON
			}
			if rng.IntN(2) == 0 {
				digits = "-" + digits
			}
			s = digits
		}
		want, err := strconv.ParseFloat(s, 64)
		if err != nil {
			t.Fatalf("%s: %v", s, err)
		}
		got, ok := shortNumber([]byte(s))
		digits := strings.Count(s, "") - 1 - strings.Count(s, "-") - strings.Count(s, ".")
		if wantOK := digits <= 15 && !strings.ContainsAny(s, "eE"); ok != wantOK {
			t.Fatalf("%s: shortNumber ok = %v, want %v", s, ok, wantOK)
		}
		if ok && math.Float64bits(got) != math.Float64bits(want) {
			t.Fatalf("%s: shortNumber %v (%x), ParseFloat %v (%x)", s, got, math.Float64bits(got), want, math.Float64bits(want))
		}
	}
}

// decodeFields refuses exactly what decodeJSON refuses, with the same
// error, and reads the same values for the fields it decodes.
func checkFieldsMatch(t *testing.T, data []byte, names []string) {
	t.Helper()
	got, _, err := decodeFields(data, names)
	want, wantErr := decodeJSON(data)
	if (err == nil) != (wantErr == nil) || err != nil && err.Error() != wantErr.Error() {
		t.Fatalf("%q: decodeFields err %v, decodeJSON err %v", data, err, wantErr)
	}
	if err != nil {
		return
	}
	f, ok := got.(*Fields)
	obj, isObject := want.(map[string]any)
	if ok != isObject {
		t.Fatalf("%q: decodeFields gave %T for %T", data, got, want)
	}
	if !ok {
		if !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: decodeFields gave %#v, want %#v", data, got, want)
		}
		return
	}
	for _, n := range names {
		if v, read := f.Get(n); !read || !reflect.DeepEqual(v, obj[n]) {
			t.Fatalf("%q: field %q = %#v (%v), want %#v", data, n, v, read, obj[n])
		}
	}
	if _, read := f.Get("not-a-name"); read {
		t.Fatalf("%q: Get of a name the flow does not read reported it read", data)
	}
	if whole, err := f.Map(); err != nil || !reflect.DeepEqual(whole, want) {
		t.Fatalf("%q: Map = %#v, %v; want %#v", data, whole, err, want)
	}
}

var fieldNames = []string{"id", "amount", "dup", "a", "missing", ""}

func TestDecodeFieldsMatchesDecode(t *testing.T) {
	for _, c := range append(jsonCases, badJSON...) {
		checkFieldsMatch(t, []byte(c), fieldNames)
	}
	for _, c := range []string{`{"id":1,"x":{"deep":[1,{"y":"\u00e9"}]},"amount":2.5}`, `{"dup":1,"dup":2}`, `{"id":1,"x":[1,2,}`,
		`{"id":1,"x":1e400}`, `{"a\u006d\u006fount":3}`, `{"id":1} x`, `{"":true,"id":null}`, strings.Repeat(`{"a":`, maxJSONDepth+1)} {
		checkFieldsMatch(t, []byte(c), fieldNames)
	}
	many := make([]string, 12) // more names than Fields holds inline
	for i := range many {
		many[i] = fmt.Sprintf("k%d", i)
	}
	checkFieldsMatch(t, []byte(`{"k0":0,"k11":11,"k5":"five"}`), many)
}

func FuzzDecodeFields(f *testing.F) {
	for _, c := range append(jsonCases, badJSON...) {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) { checkFieldsMatch(t, data, fieldNames) })
}
