package message

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

var keepCases = []string{
	`{"id":1234567890123456789, "big": 18446744073709551616,"f":1.50,"e":1e2,"s":"caf\u00e9 \/ \ud800","z":-0}`,
	"{ \"b\" : {\"y\":1,  \"x\":[1.0, 2 ]} ,\n\"a\":\"x\" }", `{"dup":1,"dup":2}`, `{}`, `[]`, `[ {"a":[ ]} ]`,
	"{\"bad\":\"\xff\xfe\"}", `"\u00e9"`, `-0`, `1E+2`, `null`, `{"\u0061":1,"a":2}`,
}

// Encode writes a payload the flow did not change as the bytes it was
// read as, and an object it added a key to as those bytes plus the key.
func FuzzEncodeKeepsBytes(f *testing.F) {
	for _, c := range keepCases {
		f.Add([]byte(c))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m := &Message{Raw: data}
		if JSON.Decode(m) != nil {
			return
		}
		m.SetPayload(m.Payload)
		if err := JSON.Encode(m); err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		// An object with a key twice decodes to its last value: it is
		// written once, so only those documents may come out shorter; a
		// document over several lines is written on one.
		want := bytes.TrimSpace(data)
		multiline := bytes.ContainsAny(want, "\r\n")
		if !bytes.Equal(m.Body, want) && !hasDuplicateKeys(data) && !multiline {
			t.Fatalf("unchanged payload re-encoded:\n in %q\nout %q", want, m.Body)
		}
		if bytes.ContainsAny(m.Body, "\r\n") {
			t.Fatalf("%q re-encoded over several lines: %q", data, m.Body)
		}
		if multiline {
			if got, err := decodeJSON(m.Body); err != nil || !reflect.DeepEqual(got, m.Payload) {
				t.Fatalf("%q re-encoded as %q: %#v (%v)", data, m.Body, got, err)
			}
		}

		// A batch's reduce that takes the payload whole, with another
		// member's and a computed value, writes both payloads' bytes.
		other := &Message{Raw: []byte(keepCases[0])}
		if err := JSON.Decode(other); err != nil {
			t.Fatal(err)
		}
		reduced := &Message{}
		reduced.SetPayload(map[string]any{"a": m.Payload, "b": other.Payload, "n": []any{1.5, m.Payload}})
		reduced.TakeFrom([]*Message{other, m})
		if err := JSON.Encode(reduced); err != nil {
			t.Fatalf("%q reduced: %v", data, err)
		}
		if !bytes.Equal(m.Body, want) {
			want = m.Body // as written alone (a key twice, several lines)
		}
		if r := fmt.Sprintf(`{"a":%s,"b":%s,"n":[1.5,%s]}`, want, other.Raw, want); string(reduced.Body) != r {
			t.Fatalf("reduce result:\n got %q\nwant %q", reduced.Body, r)
		}

		obj, ok := m.Payload.(map[string]any)
		if !ok {
			return
		}
		whole, _ := decodeJSON(data)
		whole.(map[string]any)["zz added"] = "new"
		obj["zz added"] = "new"
		m.Body = nil
		if err := JSON.Encode(m); err != nil {
			t.Fatalf("%q: %v", data, err)
		}
		if !json.Valid(m.Body) {
			t.Fatalf("%q + a key gave invalid JSON %q", data, m.Body)
		}
		got, err := decodeJSON(m.Body)
		if err != nil || !reflect.DeepEqual(got, whole) {
			t.Fatalf("%q + a key gave %q: %#v (%v), want %#v", data, m.Body, got, err, whole)
		}
	})
}

func hasDuplicateKeys(data []byte) bool {
	d := &jsonDecoder{data: data}
	dup := false
	var walk func() error
	walk = func() error {
		d.skipSpace()
		switch d.data[d.pos] {
		case '{':
			seen := map[string]bool{}
			return d.members(1, func(k string) error {
				dup = dup || seen[k]
				seen[k] = true
				return walk()
			})
		case '[':
			return d.elements(1, walk)
		}
		return d.skip(1)
	}
	_ = walk()
	return dup
}

func TestEncodeKeepsBytes(t *testing.T) {
	for _, tc := range []struct {
		in     string
		change func(map[string]any)
		want   string
	}{
		{`{"a": 1.50, "b" : "x\/y", "c":[1e2]}`, func(m map[string]any) { delete(m, "b") }, `{"a": 1.50, "c":[1e2]}`},
		{`{"a": 1.50, "b" : "x\/y", "c":[1e2]}`, func(m map[string]any) { delete(m, "a") }, `{"b" : "x\/y", "c":[1e2]}`},
		{`{"a": 1.50, "b" : "x\/y"}`, func(m map[string]any) { m["b"] = 2 }, `{"a": 1.50, "b" : 2}`},
		{`{ "n": {"x": 1.0, "y": [ -0 ]} }`, func(m map[string]any) { m["n"].(map[string]any)["z"] = true }, `{ "n": {"x": 1.0, "y": [ -0 ],"z":true} }`},
		{`{"l": [1.0, "\u0041", {"k": 1e0}]}`, func(m map[string]any) { m["l"].([]any)[1] = "B" }, `{"l": [1.0, "B", {"k": 1e0}]}`},
		{`{"a":1}`, func(m map[string]any) { m["c"], m["b"] = 3, []any{m["a"]} }, `{"a":1,"b":[1],"c":3}`},
		{`{"dup":1,"x":0,"dup":2.0}`, func(map[string]any) {}, `{"dup":2.0,"x":0}`},
		{"{\n \"a\" : [1.0,\r\n 2],\n \"k e\\\" y\"\t:\n{ }\n}", func(m map[string]any) { m["b"] = 1 }, `{"a" : [1.0,2],"k e\" y":{ },"b":1}`},
	} {
		m := &Message{Raw: []byte(tc.in)}
		if err := JSON.Decode(m); err != nil {
			t.Fatal(err)
		}
		tc.change(m.Payload.(map[string]any))
		m.SetPayload(m.Payload)
		if err := JSON.Encode(m); err != nil || string(m.Body) != tc.want {
			t.Errorf("%s: got %s (%v), want %s", tc.in, m.Body, err, tc.want)
		}
	}
}

// A payload of many values fills several chunks of its origin and looks
// its objects up in an index: every value still keeps its bytes, those
// of each chunk and escaped strings whose span takes a second slot.
func TestEncodeKeepsBytesOfALargePayload(t *testing.T) {
	var b bytes.Buffer
	b.WriteString(`{"items": [`)
	for i := range 200 {
		if i > 0 {
			b.WriteString(", ")
		}
		fmt.Fprintf(&b, `{"id": 18%018d, "s": "caf\u00e9 %d", "p": "plain", "f": 1.50, "l": [ ]}`, i, i)
	}
	b.WriteString(`], "big": 18446744073709551616}`)
	in := b.String()
	m := &Message{Raw: []byte(in)}
	if err := JSON.Decode(m); err != nil {
		t.Fatal(err)
	}
	if m.origin.more == nil || len(m.origin.more.full) < 3 {
		t.Fatalf("the payload should fill several chunks")
	}
	obj := m.Payload.(map[string]any)
	items := obj["items"].([]any)
	last := items[199].(map[string]any)
	last["added"] = true
	// Values moved elsewhere keep their bytes too.
	obj["moved"] = []any{items[0].(map[string]any)["id"], items[100].(map[string]any)["s"], items[150]}
	m.SetPayload(obj)
	if err := JSON.Encode(m); err != nil {
		t.Fatal(err)
	}
	want := strings.Replace(in, `"l": [ ]}], "big"`, `"l": [ ],"added":true}], "big"`, 1)
	want = strings.TrimSuffix(want, "}") + `,"moved":[18000000000000000000,"caf\u00e9 100",` +
		`{"id": 18000000000000000150, "s": "caf\u00e9 150", "p": "plain", "f": 1.50, "l": [ ]}]}`
	if string(m.Body) != want {
		t.Fatalf("got  %s\nwant %s", m.Body, want)
	}
}
