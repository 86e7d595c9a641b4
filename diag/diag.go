// Package diag is flowrun's one diagnostic type: a problem bound to a
// position in a flow file and a value path, used by every layer (dsl,
// compiler, CLI) so that all problems of a file are reported together.
package diag

import (
	"errors"
	"fmt"
	"sort"
	"strings"
)

// Pos is a position in a flow file. Line and Col are 1-based; zero means unknown.
type Pos struct {
	File string `json:"file"`
	Line int    `json:"line"`
	Col  int    `json:"col"`
}

func (p Pos) String() string {
	switch {
	case p.Line == 0:
		return p.File
	default:
		return fmt.Sprintf("%s:%d:%d", p.File, p.Line, p.Col)
	}
}

// Diagnostic is one problem: where (Pos, Path), what (Message), and for
// expression errors the caret snippet of the expression.
type Diagnostic struct {
	Pos     Pos    `json:"pos"`
	Path    string `json:"path,omitempty"` // value path such as stages[2].filter
	Message string `json:"message"`
	Snippet string `json:"snippet,omitempty"`
	// Warning marks a diagnostic about a valid flow: reported, not failed.
	Warning bool `json:"warning,omitempty"`
}

// String renders file:line:col: path: message, then the snippet indented.
func (d Diagnostic) String() string {
	var b strings.Builder
	if d.Pos != (Pos{}) { // a summary line has no position
		b.WriteString(d.Pos.String())
		b.WriteString(": ")
	}
	if d.Warning {
		b.WriteString("warning: ")
	}
	if d.Path != "" {
		b.WriteString(d.Path)
		b.WriteString(": ")
	}
	b.WriteString(d.Message)
	if d.Snippet != "" {
		for _, line := range strings.Split(strings.TrimRight(d.Snippet, "\n"), "\n") {
			b.WriteString("\n    ")
			b.WriteString(line)
		}
	}
	return b.String()
}

func (d Diagnostic) Error() string { return d.String() }

// List collects diagnostics; it is an error when non-empty.
type List []Diagnostic

// Addf appends a diagnostic.
func (l *List) Addf(pos Pos, path, format string, args ...any) {
	*l = append(*l, Diagnostic{Pos: pos, Path: path, Message: fmt.Sprintf(format, args...)})
}

// Add appends diagnostics.
func (l *List) Add(ds ...Diagnostic) { *l = append(*l, ds...) }

// Sort orders diagnostics by file, line, column so output is stable.
func (l List) Sort() {
	sort.SliceStable(l, func(i, j int) bool {
		a, b := l[i].Pos, l[j].Pos
		if a.File != b.File {
			return a.File < b.File
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// Err returns nil for an empty list, else the list joined as one error;
// errors.As(err, &diag.List{}) recovers it.
func (l List) Err() error {
	if len(l) == 0 {
		return nil
	}
	return l
}

func (l List) Error() string {
	errs := make([]error, len(l))
	for i, d := range l {
		errs[i] = d
	}
	return errors.Join(errs...).Error()
}

// Suggest returns the candidate closest to name (edit distance at most a
// third of its length, at least 1), or "" when none is close.
func Suggest(name string, candidates []string) string {
	best, bestDist := "", len(name)/3+1
	if bestDist < 2 {
		bestDist = 2
	}
	for _, c := range candidates {
		if d := distance(strings.ToLower(name), strings.ToLower(c)); d < bestDist {
			best, bestDist = c, d
		}
	}
	return best
}

// DidYouMean formats a `; did you mean "X"?` suffix, or "" when no
// candidate is close.
func DidYouMean(name string, candidates []string) string {
	if s := Suggest(name, candidates); s != "" {
		return fmt.Sprintf("; did you mean %q?", s)
	}
	return ""
}

// distance is the optimal string alignment distance: edits, where
// swapping two neighbouring letters (gruop -> group) counts as one.
func distance(a, b string) int {
	d := make([][]int, len(a)+1)
	for i := range d {
		d[i] = make([]int, len(b)+1)
		d[i][0] = i
	}
	for j := range d[0] {
		d[0][j] = j
	}
	for i := 1; i <= len(a); i++ {
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			d[i][j] = min(d[i-1][j]+1, d[i][j-1]+1, d[i-1][j-1]+cost)
			if i > 1 && j > 1 && a[i-1] == b[j-2] && a[i-2] == b[j-1] {
				d[i][j] = min(d[i][j], d[i-2][j-2]+1)
			}
		}
	}
	return d[len(a)][len(b)]
}
