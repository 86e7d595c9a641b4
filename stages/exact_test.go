package stages_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/message"
)

// The values a generated document draws from: the spellings a re-encode
// would change (big and negative integers, -0, trailing zeros, exponents,
// escapes, surrogate pairs and lone surrogates, raw unicode, invalid UTF-8).
var (
	exactNumbers = []string{"0", "-0", "7", "-42", "1234567890123456789", "9223372036854775807", "-9223372036854775808",
		"9223372036854775808", "18446744073709551616", "-123456789012345678901234567890", "1.50", "1306.85", "1e2", "-2.5E-3",
		"0.1", "1.0", "3.141592653589793238462643383279"}
	exactStrings = []string{`""`, `"plain"`, `"caf\u00e9"`, `"caf` + "\u00e9" + `"`, `"a\/b"`, `"line\nbreak\ttab"`, `"q\"uote\\"`,
		`"\ud83d\ude00"`, `"lone \ud800 surrogate"`, `"` + "\xff\xfe bytes" + `"`, `"` + "\u2028" + `"`, `"<&>"`}
	// Spacing on one line: a payload spread over lines is written on one
	// (message.TestEncodeKeepsBytes checks that).
	exactSpace = []string{"", "", " ", "\t", "  "}
)

type docGen struct{ rng *rand.Rand }

func (g docGen) pick(xs []string) string { return xs[g.rng.IntN(len(xs))] }

func (g docGen) value(depth int) string {
	switch n := g.rng.IntN(10); {
	case n < 3:
		return g.pick(exactNumbers)
	case n < 6:
		return g.pick(exactStrings)
	case n == 6:
		return g.pick([]string{"true", "false", "null"})
	case n == 7 && depth < 3:
		return g.object(depth+1, g.rng.IntN(4))
	case n == 8 && depth < 3:
		var b strings.Builder
		b.WriteString("[" + g.pick(exactSpace))
		for i := range g.rng.IntN(4) {
			if i > 0 {
				b.WriteString(g.pick(exactSpace) + "," + g.pick(exactSpace))
			}
			b.WriteString(g.value(depth + 1))
		}
		return b.String() + g.pick(exactSpace) + "]"
	}
	return g.pick(exactStrings)
}

// object writes n members with distinct keys k0..; some keys are escaped.
func (g docGen) object(depth, n int) string {
	var b strings.Builder
	b.WriteString("{" + g.pick(exactSpace))
	for i := range n {
		if i > 0 {
			b.WriteString(g.pick(exactSpace) + "," + g.pick(exactSpace))
		}
		key := fmt.Sprintf(`"k%d"`, i)
		if g.rng.IntN(4) == 0 {
			key = fmt.Sprintf(`"\u006b%d"`, i) // "k<i>", escaped
		}
		b.WriteString(key + g.pick(exactSpace) + ":" + g.pick(exactSpace) + g.value(depth))
	}
	return b.String() + g.pick(exactSpace) + "}"
}

type member struct {
	key string
	raw string
}

// members splits a JSON object into its members in order, each value as
// its exact bytes.
func members(t *testing.T, doc []byte) []member {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(doc))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		t.Fatalf("%q is not an object: %v %v", doc, tok, err)
	}
	var out []member
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		var raw json.RawMessage
		if err := dec.Decode(&raw); err != nil {
			t.Fatalf("%q: %v", doc, err)
		}
		out = append(out, member{key.(string), string(raw)})
	}
	if _, err := dec.Token(); err != nil {
		t.Fatalf("%q: %v", doc, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		t.Fatalf("%q: more after the object", doc)
	}
	return out
}

// Fields a flow does not touch keep their original bytes: set changes
// and adds only what it names; meta, key and filter leave the payload as
// it came, byte for byte.
func TestPayloadBytesKeptExactly(t *testing.T) {
	x := newExec(&bytes.Buffer{})
	set := step(t, "set", entries(t, "k1", `"changed"`, "added", "payload.k0", "k2.deep", "1"))
	steps := []struct {
		name string
		run  func(m *message.Message) ([]*message.Message, error)
	}{
		{"meta", func(m *message.Message) ([]*message.Message, error) {
			return apply(t, x, step(t, "meta", entries(t, "m", "payload.k0")), m)
		}},
		{"key", func(m *message.Message) ([]*message.Message, error) {
			return apply(t, x, step(t, "key", prog(t, "payload.k0")), m)
		}},
		{"filter", func(m *message.Message) ([]*message.Message, error) {
			return apply(t, x, step(t, "filter", prog(t, "payload.k0 != nil || true")), m)
		}},
	}
	gen := docGen{rand.New(rand.NewPCG(9, 11))}
	for i := 0; i < 3000; i++ {
		doc := gen.object(0, 3+gen.rng.IntN(4))

		m := newMsg(doc)
		out, err := apply(t, x, set, m)
		if err != nil || len(out) != 1 {
			// k2 may hold a non-object: set refuses it, and that is all.
			if err != nil && strings.Contains(err.Error(), "cannot set k2.deep") {
				continue
			}
			t.Fatalf("set on %q: %v", doc, err)
		}
		if err := message.JSON.Encode(out[0]); err != nil {
			t.Fatalf("encode %q: %v", doc, err)
		}
		in, got := members(t, []byte(doc)), members(t, out[0].Body)
		want := append([]member(nil), in...)
		want[1].raw = `"changed"`
		k2Object := strings.HasPrefix(in[2].raw, "{")
		if !k2Object { // null: set made an object
			want[2].raw = `{"deep":1}`
		}
		want = append(want, member{"added", in[0].raw})
		if len(got) != len(want) {
			t.Fatalf("set on %q wrote %q", doc, out[0].Body)
		}
		for j := range want {
			if got[j].key != want[j].key {
				t.Fatalf("set on %q wrote %q: member %d is %q, want %q", doc, out[0].Body, j, got[j].key, want[j].key)
			}
			if j == 2 && k2Object {
				deep := members(t, []byte(got[2].raw))
				orig := members(t, []byte(in[2].raw))
				for k, mm := range orig {
					if mm.key != "deep" && deep[k] != mm {
						t.Fatalf("set on %q changed k2's member %v to %v", doc, mm, deep[k])
					}
				}
				continue
			}
			if got[j].raw != want[j].raw {
				t.Fatalf("set on %q wrote %q: member %s is %q, want %q", doc, out[0].Body, want[j].key, got[j].raw, want[j].raw)
			}
		}

		for _, s := range steps {
			m := newMsg(doc)
			out, err := s.run(m)
			if err != nil || len(out) != 1 {
				t.Fatalf("%s on %q: %v %v", s.name, doc, out, err)
			}
			if err := message.JSON.Encode(out[0]); err != nil {
				t.Fatalf("%s: encode %q: %v", s.name, doc, err)
			}
			if string(out[0].Body) != doc {
				t.Fatalf("%s changed the payload:\n in %q\nout %q", s.name, doc, out[0].Body)
			}
		}
	}
}

// A value the flow moves into a new object keeps its bytes too.
func TestMapKeepsTheBytesOfTheValuesItCarries(t *testing.T) {
	x := newExec(&bytes.Buffer{})
	s := step(t, "map", prog(t, `{"id": payload.id, "name": payload.name, "nested": payload.nested, "n": payload.n + 1}`))
	m := newMsg(`{"id": 18446744073709551616, "name": "Zo\u00eb \ud800", "nested": {"b": 1.50, "a": [1e2]}, "n": 1}`)
	out, err := apply(t, x, s, m)
	if err != nil || len(out) != 1 {
		t.Fatal(err)
	}
	if err := message.JSON.Encode(out[0]); err != nil {
		t.Fatal(err)
	}
	want := `{"id":18446744073709551616,"n":2,"name":"Zo\u00eb \ud800","nested":{"b": 1.50, "a": [1e2]}}`
	if string(out[0].Body) != want {
		t.Errorf("map wrote\n %s\nwant\n %s", out[0].Body, want)
	}
}
