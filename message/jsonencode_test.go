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
	const head = `{"id":"i\"d","key":"k","topic":"t","meta":{"a":"1","b":"x"},`
	for body, want := range map[string]string{
		`{"a": 1.50}`:      head + `"payload":{"a": 1.50}}`,
		` "s" `:            head + `"payload_encoding":"text","payload":" \"s\" "}`,
		"{\n \"a\": 1\n}":  head + `"payload_encoding":"text","payload":"{\n \"a\": 1\n}"}`,
		"{\"a\":1}\r":      head + `"payload_encoding":"text","payload":"{\"a\":1}\r"}`,
		`not json`:         head + `"payload_encoding":"text","payload":"not json"}`,
		``:                 head + `"payload_encoding":"text","payload":""}`,
		"\xff\x00\r":       head + `"payload_encoding":"base64","payload":"/wAN"}`,
		"{\"s\":\"\xff\"}": head + `"payload_encoding":"base64","payload":"eyJzIjoi/yJ9"}`,
	} {
		m := &Message{ID: `i"d`, Key: "k", Topic: "t", Meta: map[string]string{"b": "x", "a": "1"}, Body: []byte(body)}
		got, err := AppendEnvelope(nil, m)
		if err != nil || string(got) != want {
			t.Errorf("%q: got %s (%v), want %s", body, got, err, want)
		}
		if !json.Valid(got) || bytes.ContainsAny(got, "\r\n") {
			t.Errorf("%q: envelope %q is not one line of JSON", body, got)
		}
		if back := envelopePayload(t, got); back != body {
			t.Errorf("%q: the envelope gives back %q", body, back)
		}
	}
	got, _ := AppendEnvelope(nil, &Message{Key: "\xfe", Body: []byte(`1`)})
	if string(got) != `{"id":"","key_encoding":"base64","key":"/g==","topic":"","meta":{},"payload":1}` {
		t.Errorf("empty message: %s", got)
	}
}

// envelopePayload decodes an envelope's payload as a reader would.
func envelopePayload(t *testing.T, env []byte) string {
	var e struct {
		Encoding string          `json:"payload_encoding"`
		Payload  json.RawMessage `json:"payload"`
	}
	if err := json.Unmarshal(env, &e); err != nil {
		t.Fatal(err)
	}
	switch e.Encoding {
	case "":
		return string(e.Payload)
	case "text":
		var s string
		if err := json.Unmarshal(e.Payload, &s); err != nil {
			t.Fatal(err)
		}
		return s
	case "base64":
		var b []byte // encoding/json decodes base64 into []byte
		if err := json.Unmarshal(e.Payload, &b); err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	t.Fatalf("payload_encoding %q", e.Encoding)
	return ""
}
