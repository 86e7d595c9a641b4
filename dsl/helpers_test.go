package dsl

import (
	"fmt"
	"regexp"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/diag"
)

// noEnv is an environment where no variable is set.
func noEnv(string) (string, bool) { return "", false }

// envOf is an environment holding vars.
func envOf(vars map[string]string) Lookup {
	return func(name string) (string, bool) {
		v, ok := vars[name]
		return v, ok
	}
}

var markerRE = regexp.MustCompile(`«([^»#]+)(?:#(\d+))?»`)

// expand replaces every «needle» in want by "f.yaml:LINE:COL" of the
// first occurrence of needle in src («needle#N»: the N-th), so expected
// positions are computed from the test's YAML text, not copied from the
// parser's output.
func expand(t *testing.T, src, want string) string {
	t.Helper()
	return markerRE.ReplaceAllStringFunc(want, func(m string) string {
		parts := markerRE.FindStringSubmatch(m)
		needle, nth := parts[1], 1
		if parts[2] != "" {
			fmt.Sscan(parts[2], &nth)
		}
		return "f.yaml:" + lineCol(t, src, needle, nth)
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
	line := strings.Count(before, "\n") + 1
	col := off - (strings.LastIndex(before, "\n") + 1) + 1
	return fmt.Sprintf("%d:%d", line, col)
}

// render formats diagnostics one per line as file:line:col: path: message
// (without snippets), sorted by position.
func render(ds diag.List) []string {
	sorted := append(diag.List(nil), ds...)
	sorted.Sort()
	out := make([]string, len(sorted))
	for i, d := range sorted {
		d.Snippet = ""
		out[i] = d.String()
	}
	return out
}

// wantDiags fails unless got holds exactly want (after expanding markers), in position order.
func wantDiags(t *testing.T, src string, got diag.List, want []string) {
	t.Helper()
	lines := render(got)
	expanded := make([]string, len(want))
	for i, w := range want {
		expanded[i] = expand(t, src, w)
	}
	if strings.Join(lines, "\n") != strings.Join(expanded, "\n") {
		t.Errorf("diagnostics:\n got:\n  %s\nwant:\n  %s", strings.Join(lines, "\n  "), strings.Join(expanded, "\n  "))
	}
}
