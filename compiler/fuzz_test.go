package compiler_test

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/dsl"
)

// fuzzSeeds are valid and invalid flows that reach most of the parser
// and compiler; testdata/fuzz/FuzzCompile holds crashers found before.
var fuzzSeeds = []string{
	specFlow,
	head + "source: {ctest-gen: {count: 3, payload: '{\"n\": counter}'}}\n" + two + `stages:
  - set: {kind.size: 'payload.n > 1 ? "large" : "small"'}
  - route:
      - {when: payload.kind.size == "large", to: large}
      - {default: small}
  - batch: {size: 10, key: payload.kind.size, reduce: '{"kind": batch_key, "n": len(batch)}'}
`,
	head + source + sink + "middleware:\n  - timeout: 2s\n  - retry: {max_retries: 1}\nstages:\n  - log: |\n      payload.a +\n        nope\n  - meta: {a: key, b: \"1.5\"}\n  - split: payload.items\n  - key: payload.id\n",
	head + source + sink + "stages:\n  - fliter: x\n  - {name: s, map: batch}\n  - {name: s, filter: a, map: b}\n  - route: [{when: x}, {default: q}]\n",
	"version: 2\nname: Bad\nconcurrency: \"x\"\nsink: {a: 1}\nsinks: {a: {b: 1}}\nsource: {x: &a {}, y: *a}\n",
	"version: 1\nname: x\nsource: [file\n",
	"version: 1\nname: ${NAME}\nsource: {ctest-queue: {brokers: [\"${SET}\", \"$${x}\", \"${UNSET:-d}\"], topic: \"${BAD\"}}\nsink: {ctest-out: {<<: {}}}\n",
	"",
	"- a\n- b\n",
	"version: 1\nname: x\n" + source + sink + "dead_letter: {ctest-gen: {payload: payload}}\nstages:\n  - batch: ~\n  - set: {a..b: 1, c: ''}\n",
}

func FuzzCompile(f *testing.F) {
	for _, s := range fuzzSeeds {
		f.Add([]byte(s))
	}
	examples, err := filepath.Glob("../examples/flows/*.yaml")
	if err != nil {
		f.Fatal(err)
	}
	for _, path := range examples {
		src, err := os.ReadFile(path)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(src)
	}
	env := func(name string) (string, bool) {
		if name == "SET" {
			return "value", true
		}
		return "", false
	}
	f.Fuzz(func(t *testing.T, src []byte) {
		lines := yamlLines(src)
		flow, ds := dsl.Parse("fuzz.yaml", src, env)
		if flow == nil && len(ds) == 0 {
			t.Fatal("Parse returned neither a flow nor a diagnostic")
		}
		if flow != nil {
			out, cds := compiler.Compile(flow)
			switch {
			case out == nil && len(ds)+len(cds) == 0:
				t.Fatal("Compile returned neither a flow nor a diagnostic")
			case out != nil && len(cds) > 0:
				t.Fatalf("Compile returned a flow and diagnostics: %v", cds)
			case out != nil:
				_, _ = out.Graph.Mermaid(), out.Graph.DOT()
			}
			ds = append(ds, cds...)
		}
		for _, d := range ds {
			if d.Message == "" || d.Pos.File != "fuzz.yaml" || d.Pos.Line < 0 || d.Pos.Line > lines || d.Pos.Col < 0 {
				t.Errorf("diagnostic without a message or outside the file (%d lines): %#v", lines, d)
			}
		}
	})
}

// yamlLines counts lines as YAML (and yaml.v3) does: a line ends at \n,
// \r\n, a lone \r, NEL (U+0085), LS (U+2028) or PS (U+2029).
func yamlLines(src []byte) int {
	n := 1 + bytes.Count(src, []byte("\n")) + bytes.Count(src, []byte("\r")) - bytes.Count(src, []byte("\r\n"))
	for _, r := range []string{"\u0085", "\u2028", "\u2029"} {
		n += bytes.Count(src, []byte(r))
	}
	return n
}
