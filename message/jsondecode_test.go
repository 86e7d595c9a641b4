package message

import (
	"encoding/json"
	"reflect"
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
		var want any
		if err := json.Unmarshal([]byte(c), &want); err != nil {
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
		var want any
		wantErr := json.Unmarshal(data, &want)
		if (err == nil) != (wantErr == nil) {
			t.Fatalf("%q: decodeJSON err %v, encoding/json err %v", data, err, wantErr)
		}
		// encoding/json replaces invalid UTF-8; flowrun keeps the bytes.
		if err == nil && utf8.Valid(data) && !reflect.DeepEqual(got, want) {
			t.Fatalf("%q: got %#v, want %#v", data, got, want)
		}
	})
}
