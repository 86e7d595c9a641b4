package message

import (
	"encoding/json"
	"math"
	"testing"
	"time"
)

func TestFormatValue(t *testing.T) {
	for _, c := range []struct {
		v    any
		want string
	}{
		{"as is \xff", "as is \xff"},
		{[]byte("raw"), "raw"},
		{nil, "null"},
		{true, "true"},
		{12345678, "12345678"},
		{math.MaxInt64, "9223372036854775807"},
		{math.MinInt64, "-9223372036854775808"},
		{int64(-7), "-7"},
		{12345678.0, "12345678"},
		{0.1, "0.1"},
		{amount * 100, "130684.99999999999"},
		{1e20, "100000000000000000000"},
		{1e21, "1e+21"},
		{1.5e-7, "1.5e-7"},
		{math.Copysign(0, -1), "-0"},
		{18446744073709551616.0, "18446744073709552000"},
		{math.NaN(), "NaN"},
		{math.Inf(1), "+Inf"},
		{math.Inf(-1), "-Inf"},
		{[]any{1, 2.5, "a", nil, true, math.NaN()}, `[1,2.5,"a",null,true,"NaN"]`},
		{map[string]any{"b": 12345678.0, "a": map[string]any{"x": []any{}}}, `{"a":{"x":[]},"b":12345678}`},
		{map[string]string{"k": "v"}, `{"k":"v"}`},
		{90 * time.Minute, "1h30m0s"},
		{[]int{1, 2}, "[1,2]"},
	} {
		if got := FormatValue(c.v); got != c.want {
			t.Errorf("FormatValue(%#v) = %q, want %q", c.v, got, c.want)
		}
	}
}

var amount = 1306.85 // a variable: Go's constant arithmetic would be exact

// A leaf JSON cannot encode does not make the whole value fail.
func TestFormatValueNeverFails(t *testing.T) {
	if got := FormatValue([]any{make(chan int)}); !json.Valid([]byte(got)) {
		t.Fatalf("%q is not JSON", got)
	}
}

// A float reads the same in a payload the encoder wrote and in FormatValue.
func TestFormatValueMatchesTheEncoder(t *testing.T) {
	for _, f := range []float64{0, 1, -2.5, 12345678, 0.1, 1e20, 1e21, 123456789012345678, 1.5e-7, 1e-6, math.MaxFloat64, math.SmallestNonzeroFloat64} {
		enc, err := appendJSON(nil, f)
		if err != nil {
			t.Fatal(err)
		}
		if got := FormatValue(f); got != string(enc) {
			t.Errorf("%v: FormatValue %q, encoder %q", f, got, enc)
		}
	}
}

// A JSON log shows a Formatted value as JSON, a text log as FormatValue.
func TestFormattedMarshals(t *testing.T) {
	for _, c := range []struct {
		v          any
		json, text string
	}{
		{12345678.0, `12345678`, `12345678`},
		{"a\"b", `"a\"b"`, `a"b`},
		{map[string]any{"n": 1e21, "bad": math.Inf(1)}, `{"bad":"+Inf","n":1e+21}`, `{"bad":"+Inf","n":1e+21}`},
		{math.NaN(), `"NaN"`, `NaN`},
		{nil, `null`, `null`},
	} {
		j, err := json.Marshal(Formatted{c.v})
		if err != nil || string(j) != c.json {
			t.Errorf("%#v: json %s (%v), want %s", c.v, j, err, c.json)
		}
		if tx, _ := (Formatted{c.v}).MarshalText(); string(tx) != c.text {
			t.Errorf("%#v: text %s, want %s", c.v, tx, c.text)
		}
	}
}
