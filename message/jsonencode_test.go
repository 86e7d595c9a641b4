package message

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

func encodingJSON(t testing.TB, v any) string {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		t.Fatal(err)
	}
	return string(bytes.TrimSuffix(buf.Bytes(), []byte("\n")))
}

func TestAppendJSONMatchesEncodingJSON(t *testing.T) {
	values := []any{
		nil, true, false, "", "plain", "q\"b\\s/\n\r\t\x01\x1f<>&", "é中😀", "bad \xff utf8", "line\u2028sep\u2029",
		0.0, math.Copysign(0, -1), 1.0, -2.5, 123.45, 1e20, 1e21, 1.5e-7, 0.000001, 12345678.9, math.MaxFloat64, math.SmallestNonzeroFloat64,
		42, int64(-7), []any{}, []any{1.0, "a", nil, []any{true}}, map[string]any{},
		map[string]any{"b": 1.0, "a": map[string]any{"z": "y", "c": []any{"x"}}, "é": nil},
		map[string]string{"k2": "v", "k1": "w"}, time.Date(2026, 11, 28, 8, 0, 0, 0, time.UTC), []string{"a", "b"},
	}
	for _, v := range values {
		got, err := appendJSON(nil, v)
		if err != nil {
			t.Fatalf("%#v: %v", v, err)
		}
		if want := encodingJSON(t, v); string(got) != want {
			t.Errorf("%#v:\n got %s\nwant %s", v, got, want)
		}
	}
	if _, err := appendJSON(nil, math.NaN()); err == nil {
		t.Error("NaN encoded")
	}
}

func FuzzAppendJSONRoundTrip(f *testing.F) {
	for _, c := range jsonCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		v, err := decodeJSON(data)
		if err != nil {
			return
		}
		got, err := appendJSON(nil, v)
		if err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		if want := encodingJSON(t, v); string(got) != want {
			t.Fatalf("%q:\n got %s\nwant %s", data, got, want)
		}
	})
}

func TestAppendEnvelope(t *testing.T) {
	for body, want := range map[string]string{
		`{"a": 1}`:        `{"id":"i\"d","key":"k","topic":"t","meta":{"a":"1","b":"x"},"payload":{"a": 1}}`,
		"{\n \"a\": 1\n}": `{"id":"i\"d","key":"k","topic":"t","meta":{"a":"1","b":"x"},"payload":{"a":1}}`,
		`not json`:        `{"id":"i\"d","key":"k","topic":"t","meta":{"a":"1","b":"x"},"payload":"not json"}`,
		``:                `{"id":"i\"d","key":"k","topic":"t","meta":{"a":"1","b":"x"},"payload":""}`,
	} {
		m := &Message{ID: `i"d`, Key: "k", Topic: "t", Meta: map[string]string{"b": "x", "a": "1"}, Body: []byte(body)}
		got, err := AppendEnvelope(nil, m)
		if err != nil || string(got) != want {
			t.Errorf("%q: got %s (%v), want %s", body, got, err, want)
		}
	}
	got, _ := AppendEnvelope(nil, &Message{Body: []byte(`1`)})
	if string(got) != `{"id":"","key":"","topic":"","meta":{},"payload":1}` {
		t.Errorf("empty message: %s", got)
	}
}
