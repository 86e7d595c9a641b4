package diag

import (
	"strings"
	"testing"
	"unicode/utf8"
)

// An expression of 40,000 characters printed a 40,000-character snippet
// line and a caret line as long.
func TestCutSnippetKeepsTheCaretUnderItsCharacter(t *testing.T) {
	text := strings.Repeat("a + ", 5000) + "paylod.x" + strings.Repeat(" + b", 5000)
	caret := strings.Index(text, "paylod")
	got := CutSnippet(" | " + text + "\n | " + strings.Repeat(".", caret) + "^")
	lines := strings.Split(got, "\n")
	if len(lines) != 2 {
		t.Fatalf("got %q", got)
	}
	src, marks := []rune(lines[0]), lines[1]
	if len(src) > SnippetWidth+5 || !strings.HasPrefix(lines[0], " | …") || !strings.HasSuffix(lines[0], "…") {
		t.Fatalf("source line %q", lines[0])
	}
	at := utf8.RuneCountInString(marks) - 1
	if !strings.HasPrefix(string(src[at:]), "paylod.x") {
		t.Fatalf("the caret points at %q:\n%s", string(src[at:]), got)
	}
	// Short snippets and carets near either end are kept as they are or cut on one side.
	if short := " | payload.x +\n | ..........^"; CutSnippet(short) != short {
		t.Errorf("short snippet changed: %q", CutSnippet(short))
	}
	start := CutSnippet(" | " + text + "\n | ^")
	if !strings.HasPrefix(start, " | a + a") || !strings.HasSuffix(start, "\n | ^") {
		t.Errorf("caret at the start: %q", start)
	}
}

func TestShownCapsTheList(t *testing.T) {
	var l List
	for range 250 {
		l.Addf(Pos{File: "f", Line: 1, Col: 1}, "", "problem")
	}
	shown := l.Shown()
	if len(shown) != MaxShown+1 || shown[MaxShown].Message != "150 more problem(s) not shown; fix the ones above first" {
		t.Fatalf("got %d, last %+v", len(shown), shown[len(shown)-1])
	}
	if len(l[:3].Shown()) != 3 {
		t.Fatal("a short list must be shown whole")
	}
}
