package diag

import (
	"fmt"
	"strings"
)

// MaxShown is how many problems validate prints; past it, one more line
// says how many were left out (fix the first ones; many follow from them).
const MaxShown = 100

// Shown returns the first MaxShown diagnostics, and when there are more
// a last one without position that counts the rest.
func (l List) Shown() List {
	if len(l) <= MaxShown {
		return l
	}
	shown := append(List{}, l[:MaxShown]...)
	return append(shown, Diagnostic{Message: fmt.Sprintf("%d more problem(s) not shown; fix the ones above first", len(l)-MaxShown)})
}

// SnippetWidth is how many characters of an expression line a snippet
// shows around its caret.
const SnippetWidth = 120

// CutSnippet shortens the lines of an expr caret snippet (" | text" then
// " | ....^") to SnippetWidth characters around the caret, marking what
// is cut with …; the caret stays under the same character.
func CutSnippet(s string) string {
	const prefix = " | "
	lines := strings.Split(s, "\n")
	caret := -1 // the caret's column in the line above it
	for i, line := range lines {
		if dots, ok := strings.CutPrefix(line, prefix); ok && i > 0 && strings.HasSuffix(dots, "^") && strings.Trim(dots, ".") == "^" {
			caret = len(dots) - 1
			text := []rune(strings.TrimPrefix(lines[i-1], prefix))
			from, to := window(len(text), caret)
			cut := string(text[from:to])
			shift := 0
			if from > 0 {
				cut, shift = "…"+cut, 1
			}
			if to < len(text) {
				cut += "…"
			}
			lines[i-1] = prefix + cut
			lines[i] = prefix + strings.Repeat(".", caret-from+shift) + "^"
		}
	}
	for i, line := range lines { // lines without a caret: keep their start
		if r := []rune(line); len(r) > len(prefix)+SnippetWidth+2 {
			lines[i] = string(r[:len(prefix)+SnippetWidth]) + "…"
		}
	}
	return strings.Join(lines, "\n")
}

// window is the [from, to) of at most SnippetWidth runes of a line of n
// runes that holds the caret, with the caret a third of the way in.
func window(n, caret int) (int, int) {
	if n <= SnippetWidth {
		return 0, n
	}
	from := max(0, min(caret-SnippetWidth/3, n-SnippetWidth))
	return from, from + SnippetWidth
}
