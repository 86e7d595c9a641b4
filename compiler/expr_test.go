package compiler_test

import (
	"testing"
)

// An expression error points at the offending token inside the YAML
// file, whatever the scalar style, and carries expr's caret snippet.
func TestExpressionErrorPositions(t *testing.T) {
	cases := []struct {
		name    string
		stages  string
		at      string // the diagnostic's position, «needle» marker
		snippet string
	}{
		{"plain",
			"  - filter: payload.amount > 5 && paylod.x\n",
			"«paylod»",
			" | payload.amount > 5 && paylod.x\n | ......................^"},
		{"double quoted",
			"  - log: \"payload.a + nope\"\n",
			"«nope»",
			" | payload.a + nope\n | ............^"},
		{"single quoted in a flow map",
			"  - set: {total: 'payload.price * qty'}\n",
			"«qty»",
			" | payload.price * qty\n | ................^"},
		{"literal block, second line",
			"  - key: |\n      payload.a +\n        nope\n",
			"«nope»",
			" |   nope\n | ..^"},
		{"literal block after a blank line",
			"  - map: |\n\n      {\"a\": payload.a,\n       \"b\": nope}\n",
			"«nope»",
			" |  \"b\": nope}\n | ......^"},
		{"plain, folded over lines",
			"  - filter: payload.amount > 5\n      && payload.currency == \"EUR\"\n      && paylod.x\n",
			"«paylod»",
			" | payload.amount > 5 && payload.currency == \"EUR\" && paylod.x\n | ...................................................^"},
		{"plain with a blank line",
			"  - filter: payload.a &&\n\n      paylod.b\n",
			"«paylod»",
			" | paylod.b\n | ^"},
		{"double quoted with escapes",
			"  - filter: \"payload.a == \\\"x\\\" && \\u0070aylod.b\"\n",
			"«\\u0070aylod»",
			" | payload.a == \"x\" && paylod.b\n | ....................^"},
		{"double quoted over two lines",
			"  - filter: \"payload.a == 1 &&\n      nope\"\n",
			"«nope»",
			" | payload.a == 1 && nope\n | ..................^"},
		{"single quoted with a doubled quote",
			"  - filter: 'payload.a == ''x'' && nope'\n",
			"«nope»",
			" | payload.a == 'x' && nope\n | ....................^"},
		{"folded block",
			"  - filter: >\n      payload.a == 1 &&\n      nope\n",
			"«nope»",
			" | payload.a == 1 && nope\n | ..................^"},
		{"after text from a variable: where the value starts",
			"  - filter: ${UNSET_VAR:-payload.x} && nope\n",
			"«${UNSET»",
			" | payload.x && nope\n | .............^"},
		{"before text from a variable",
			"  - filter: nope && ${UNSET_VAR:-true}\n",
			"«nope»",
			" | nope && true\n | ^"},
		{"batch reduce",
			"  - batch:\n      size: 10\n      reduce: 'len(batch) + payload.n'\n",
			"«payload.n»",
			" | len(batch) + payload.n\n | .............^"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			src := head + source + sink + "stages:\n" + tc.stages
			_, ds := compileSrc(t, src)
			if len(ds) != 1 {
				t.Fatalf("want one diagnostic, got %v", ds)
			}
			if got, want := ds[0].Pos.String(), expand(t, src, tc.at); got != want {
				t.Errorf("at %s, want %s (%s)", got, want, ds[0].Message)
			}
			if ds[0].Snippet != tc.snippet {
				t.Errorf("snippet:\n%s\nwant:\n%s", ds[0].Snippet, tc.snippet)
			}
		})
	}
}

// A value written as a scalar for an object with a shorthand field is
// that field, so its required checks and the other fields' defaults apply.
func TestShorthandValues(t *testing.T) {
	f := mustCompile(t, head+source+sink+"middleware:\n  - timeout: 2s\nstages:\n  - log: payload.a\n  - log: {message: payload.b, level: debug}\n")
	if len(f.Middleware) != 1 || f.Middleware[0].Name != "timeout" {
		t.Errorf("middleware %+v", f.Middleware)
	}
	if len(f.Steps) != 2 || f.Steps[0].Kind != "log" || f.Steps[1].Kind != "log" {
		t.Errorf("steps %+v", f.Steps)
	}
	src := head + source + sink + "stages:\n  - log: ''\n"
	_, ds := compileSrc(t, src)
	wantDiags(t, src, ds, []string{`«''»: stages[0].log: expected an expression, got ""`})
}
