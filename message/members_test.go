package message

import (
	"fmt"
	"strings"
	"testing"
)

// decodedMembers decodes each doc into a message, as a batch holds them.
func decodedMembers(t *testing.T, docs ...string) ([]*Message, []map[string]any) {
	t.Helper()
	msgs := make([]*Message, len(docs))
	payloads := make([]map[string]any, len(docs))
	for i, d := range docs {
		msgs[i] = &Message{Raw: []byte(d)}
		if err := JSON.Decode(msgs[i]); err != nil {
			t.Fatalf("%q: %v", d, err)
		}
		payloads[i], _ = msgs[i].Payload.(map[string]any)
	}
	return msgs, payloads
}

func encodeReduced(t *testing.T, members []*Message, v any) string {
	t.Helper()
	out := &Message{}
	out.SetPayload(v)
	out.TakeFrom(members)
	if err := JSON.Encode(out); err != nil {
		t.Fatal(err)
	}
	out.ReleaseMembers()
	return string(out.Body)
}

// A reduce result writes every value it took unchanged from a member as
// that member's bytes, wherever it sits; what it computed is written as
// computed values are.
func TestReduceResultKeepsMemberBytes(t *testing.T) {
	docs := []string{
		`{"id": 18446744073709551616, "s": "caf\u00e9", "f": 1.50, "z": -0, "n": {"b" : [1e2, "\ud800"], "a":{ }}}`,
		"{\"id\":-123456789012345678901234567890,\"s\":\"\xff\xfe bytes \\/\",\"f\":1306.85,\"z\":0,\"n\":[ ]}",
		`{"id":9223372036854775808,"s":"\ud83d\ude00 \" \\","f":1E+2,"z":-0.0,"n":[ [ ] , { } ]}`,
	}
	msgs, p := decodedMembers(t, docs...)
	got := encodeReduced(t, msgs, map[string]any{
		"k":     p[0]["id"], // batch_key
		"ids":   []any{p[0]["id"], p[1]["id"], p[2]["id"]},
		"s":     []any{p[0]["s"], p[1]["s"], p[2]["s"]},
		"f":     []any{p[0]["f"], p[1]["f"], p[2]["f"], p[0]["z"], p[2]["z"]},
		"n":     []any{p[0]["n"], p[1]["n"], p[2]["n"]},
		"first": p[2], // batch[2] whole
		"count": 3, "sum": 1.5 + 1306.85, "big": 18446744073709551616.0, "str": "caf\u00e9 \xff",
	})
	want := `{"big":18446744073709552000,"count":3,` +
		`"f":[1.50,1306.85,1E+2,-0,-0.0],` +
		`"first":{"id":9223372036854775808,"s":"\ud83d\ude00 \" \\","f":1E+2,"z":-0.0,"n":[ [ ] , { } ]},` +
		`"ids":[18446744073709551616,-123456789012345678901234567890,9223372036854775808],` +
		`"k":18446744073709551616,` +
		`"n":[{"b" : [1e2, "\ud800"], "a":{ }},[ ],[ [ ] , { } ]],` +
		"\"s\":[\"caf\\u00e9\",\"\xff\xfe bytes \\/\",\"\\ud83d\\ude00 \\\" \\\\\"]," +
		`"str":"café \ufffd","sum":1308.35}`
	if got != want {
		t.Errorf("reduce result\n got %s\nwant %s", got, want)
	}
	for _, m := range msgs {
		if m.Decoded || m.Payload != nil {
			t.Errorf("member %q still decoded after ReleaseMembers", m.Raw)
		}
	}
}

// Past the first lookups the members' chunks are searched by address:
// a result of many members' values (batch[i] for every i, members with
// payloads over several chunks, messages split from one sharing its
// origin) keeps every one's bytes, and values built elsewhere are not
// taken for a member's.
func TestReduceResultOfManyMembers(t *testing.T) {
	var docs []string
	for i := range 60 {
		var extra strings.Builder
		for j := range i % 25 { // payloads of up to 24 more values: several chunks
			fmt.Fprintf(&extra, `, "x%d": %d.50`, j, j)
		}
		docs = append(docs, fmt.Sprintf(`{"id": %d0000000000000000000, "s": "\u00e9%d" %s, "e": [ ]}`, i+1, i, extra.String()))
	}
	msgs, p := decodedMembers(t, docs...)
	split := msgs[7].Derive(p[7]["e"]) // shares msgs[7]'s origin
	msgs = append(msgs, split)
	var whole, ids, empties []any
	var wantWhole, wantIDs, wantEmpties []string
	for i, d := range docs {
		whole = append(whole, p[i])
		ids = append(ids, p[i]["id"], float64(i+1)*1e19) // a member's number, then a computed one
		empties = append(empties, p[i]["e"], []any{})
		wantWhole = append(wantWhole, d)
		wantIDs = append(wantIDs, fmt.Sprintf("%d0000000000000000000,%s", i+1, FormatValue(float64(i+1)*1e19)))
		wantEmpties = append(wantEmpties, "[ ],[]")
	}
	got := encodeReduced(t, msgs, map[string]any{"whole": whole, "ids": ids, "e": empties, "split": split.Payload})
	want := `{"e":[` + strings.Join(wantEmpties, ",") + `],"ids":[` + strings.Join(wantIDs, ",") +
		`],"split":[ ],"whole":[` + strings.Join(wantWhole, ",") + `]}`
	if got != want {
		t.Errorf("reduce result\n got %s\nwant %s", got, want)
	}
}

// Without TakeFrom (or once released), a result's values are written as
// computed ones: the members' origins are what keeps their bytes.
func TestReduceResultWithoutMembers(t *testing.T) {
	msgs, p := decodedMembers(t, `{"id": 18446744073709551616, "s": "caf\u00e9"}`)
	out := &Message{}
	out.SetPayload(map[string]any{"k": p[0]["id"], "s": p[0]["s"]})
	if err := JSON.Encode(out); err != nil {
		t.Fatal(err)
	}
	if want := `{"k":18446744073709552000,"s":"café"}`; string(out.Body) != want {
		t.Errorf("got %s, want %s", out.Body, want)
	}
	if got := encodeReduced(t, msgs, out.Payload); got != `{"k":18446744073709551616,"s":"caf\u00e9"}` {
		t.Errorf("with its members: %s", got)
	}
}

// Format, for a batch key's metadata, reads a member's number as its digits.
func TestReduceResultFormat(t *testing.T) {
	msgs, p := decodedMembers(t, `{"id": 18446744073709551616}`)
	out := &Message{}
	out.SetPayload(p[0]["id"])
	out.TakeFrom(msgs)
	if got := out.Format(p[0]["id"]); got != "18446744073709551616" {
		t.Errorf("Format = %s", got)
	}
	out.ReleaseMembers()
	out.ReleaseMembers() // twice is harmless
}

// Encoding the result of a reduce over 1000 payments that takes a field
// of every member (map(batch, .id)) and computes another
// (map(batch, .amount * 2)): a lookup per value, by address. "computed"
// is the same result without its members, written as computed values.
func BenchmarkEncodeReduced(b *testing.B) {
	msgs := make([]*Message, 1000)
	var ids, doubled []any
	for i := range msgs {
		msgs[i] = &Message{Raw: fmt.Appendf(nil, `{"id":"p-%06d","user":"u-123","amount":%d.50,"country":"DE","tags":["web","vip"]}`, i, i)}
		if err := JSON.Decode(msgs[i]); err != nil {
			b.Fatal(err)
		}
		p := msgs[i].Payload.(map[string]any)
		ids = append(ids, p["id"])
		doubled = append(doubled, p["amount"].(float64)*2)
	}
	country := msgs[0].Payload.(map[string]any)["country"]
	for _, take := range []bool{true, false} {
		b.Run(map[bool]string{true: "members", false: "computed"}[take], func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				out := &Message{}
				out.SetPayload(map[string]any{"country": country, "ids": ids, "doubled": doubled})
				if take {
					out.TakeFrom(msgs)
				}
				if err := JSON.Encode(out); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
