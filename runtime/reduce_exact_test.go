package runtime_test

import "testing"

// A batch's reduce writes every value it takes unchanged from a member
// (batch[i].field, batch[i] whole, batch_key) as the bytes it was read
// as: big integers, 1.50, -0, escapes, lone surrogates, invalid UTF-8,
// nested objects with their spacing. What it computes is written as
// computed values are.
func TestReduceKeepsTheBytesOfMemberValues(t *testing.T) {
	in := []string{
		`{"id":18446744073709551616,"c":"caf\u00e9","f":1.50,"z":-0,"n":{"b" : [1e2, "\ud800"], "a":{ }}}`,
		"{\"id\":18446744073709551616,\"c\":\"\xff\xfe \\/ \\ud83d\\ude00\",\"f\":-2.5E-3,\"z\":-0.0,\"n\":[ ]}",
		`{"id":-123456789012345678901234567890,"c":"x","f":1,"z":0,"n":null}`,
	}
	got := runLines(t, `
version: 1
name: exact
source: {file: {path: "IN"}}
concurrency: 1
stages:
  - batch:
      size: 2
      timeout: 1h
      key: payload.id
      reduce: '{"k": batch_key, "c": map(batch, .c), "f": batch[0].f, "z": map(batch, .z), "n": batch[0].n, "last": batch[len(batch)-1], "sum": sum(map(batch, .f)), "len": len(batch)}'
sink: {file: {path: "OUT"}}
`, in...)
	wantLines(t, got,
		"{\"c\":[\"caf\\u00e9\",\"\xff\xfe \\/ \\ud83d\\ude00\"],\"f\":1.50,\"k\":18446744073709551616,"+
			"\"last\":{\"id\":18446744073709551616,\"c\":\"\xff\xfe \\/ \\ud83d\\ude00\",\"f\":-2.5E-3,\"z\":-0.0,\"n\":[ ]},"+
			`"len":2,"n":{"b" : [1e2, "\ud800"], "a":{ }},"sum":1.4975,"z":[-0,-0.0]}`,
		`{"c":["x"],"f":1,"k":-123456789012345678901234567890,"last":`+in[2]+`,"len":1,"n":null,"sum":1,"z":[0]}`)
}
