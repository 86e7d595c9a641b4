package compiler_test

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/dsl"
	_ "github.com/flowrun/flowrun/middleware"
	_ "github.com/flowrun/flowrun/stages"
)

// compileSrc parses and compiles src as f.yaml (no environment
// variables set) and returns the flow and every diagnostic, sorted.
func compileSrc(t *testing.T, src string) (*compiler.Flow, diag.List) {
	t.Helper()
	f, ds := dsl.Parse("f.yaml", []byte(src), func(string) (string, bool) { return "", false })
	if f == nil {
		return nil, ds
	}
	flow, cds := compiler.Compile(f)
	ds = append(ds, cds...)
	ds.Sort()
	if len(ds) == 0 && flow == nil {
		t.Fatalf("Compile returned neither a flow nor a diagnostic")
	}
	return flow, ds
}

// mustCompile compiles src and fails the test on any diagnostic.
func mustCompile(t *testing.T, src string) *compiler.Flow {
	t.Helper()
	flow, ds := compileSrc(t, src)
	if len(ds) > 0 {
		t.Fatalf("unexpected diagnostics:\n%v", ds)
	}
	return flow
}

var markerRE = regexp.MustCompile(`«([^»#]+)(?:#(\d+))?»`)

// expand replaces every «needle» in want by "f.yaml:LINE:COL" of the
// first occurrence of needle in src («needle#N»: the N-th), so expected
// positions are computed from the test's YAML text.
func expand(t *testing.T, src, want string) string {
	t.Helper()
	return markerRE.ReplaceAllStringFunc(want, func(m string) string {
		parts := markerRE.FindStringSubmatch(m)
		nth := 1
		if parts[2] != "" {
			fmt.Sscan(parts[2], &nth)
		}
		return "f.yaml:" + lineCol(t, src, parts[1], nth)
	})
}

// lineCol returns "LINE:COL" (1-based) of the nth occurrence of needle in src.
func lineCol(t *testing.T, src, needle string, nth int) string {
	t.Helper()
	off := -1
	for i := 0; i < nth; i++ {
		j := strings.Index(src[off+1:], needle)
		if j < 0 {
			t.Fatalf("test bug: %q occurs fewer than %d times in the YAML", needle, nth)
		}
		off += 1 + j
	}
	before := src[:off]
	return fmt.Sprintf("%d:%d", strings.Count(before, "\n")+1, off-(strings.LastIndex(before, "\n")+1)+1)
}

// wantDiags fails unless ds holds exactly want (markers expanded), in
// position order, each rendered as file:line:col: path: message without
// its snippet.
func wantDiags(t *testing.T, src string, ds diag.List, want []string) {
	t.Helper()
	got := make([]string, len(ds))
	for i, d := range ds {
		d.Snippet = ""
		got[i] = d.String()
	}
	exp := make([]string, len(want))
	for i, w := range want {
		exp[i] = expand(t, src, w)
	}
	if strings.Join(got, "\n") != strings.Join(exp, "\n") {
		t.Errorf("diagnostics:\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(exp, "\n  "))
	}
}
