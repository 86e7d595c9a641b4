package expression

import (
	"reflect"
	"testing"
)

// The rewrite of payload field reads must not change any result or error.
func TestPayloadFieldReadsGiveExprsResults(t *testing.T) {
	payload := map[string]any{"amount": 600.0, "currency": "EUR", "a": map[string]any{"b": 2.0}, "list": []any{"x", "y"}}
	cases := map[string]any{
		`payload.amount > 500 && payload.currency == "EUR"`: true,
		`payload.a.b`:                 2.0,
		`payload["a"]["b"]`:           2.0,
		`payload.missing`:             nil,
		`payload?.a?.b`:               2.0,
		`payload.list[1]`:             "y",
		`len(payload.list)`:           2,
		`{"x": payload.amount * 100}`: map[string]any{"x": 60000.0},
		`map(payload.list, # + "!")`:  []any{"x!", "y!"},
	}
	r := NewRunner()
	for src, want := range cases {
		p, err := Compile(src, MessageScope)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		got, err := r.Eval(p, payload, nil, "", "", "")
		if err != nil || !reflect.DeepEqual(got, want) {
			t.Errorf("%s: got %#v (%v), want %#v", src, got, err, want)
		}
	}
	p, _ := Compile(`payload.a.b`, MessageScope)
	for _, bad := range []any{nil, "a string", 3.0} {
		if _, err := r.Eval(p, bad, nil, "", "", ""); err == nil {
			t.Errorf("payload %#v: no error", bad)
		}
	}
}
