package dsl

import (
	"strings"

	"github.com/flowrun/flowrun/diag"
)

// scalarSource is what a scalar node keeps of the file to map positions
// inside its value back to the file.
type scalarSource struct {
	lines   []string // the whole file, split on \n
	literal bool     // a | block: value lines are file lines
	double  bool     // "..." with \ escapes
	single  bool     // '...' with '' escapes
}

// TextPos returns where in the file the value's text at line (1-based)
// and col (0-based, in runes; as expression errors give them) is written.
// It follows YAML's line folding of plain, quoted and > scalars and the
// escapes of quoted ones. Where the text before that point is not in the
// file (it came from a ${VAR}), it is ValuePos, the start of the text.
func (n *Node) TextPos(line, col int) diag.Pos {
	if p, ok := n.walkTo(line, col); ok {
		return p
	}
	if n.src != nil {
		return n.ValuePos
	}
	// A node built by hand: count from ValuePos.
	pos := n.ValuePos
	if line > 1 {
		pos.Line += line - 1
		if !n.Block {
			pos.Col = 1
		}
	}
	pos.Col += col
	return pos
}

func (n *Node) walkTo(line, col int) (diag.Pos, bool) {
	src := n.src
	if src == nil || n.ValuePos.Line < 1 || n.ValuePos.Col < 1 {
		return diag.Pos{}, false
	}
	if src.literal {
		return diag.Pos{File: n.Pos.File, Line: n.ValuePos.Line + line - 1, Col: n.ValuePos.Col + col}, true
	}
	value := []rune(n.Value)
	target := 0 // rune offset of (line, col) in value
	for l := 1; l < line; l++ {
		i := indexRune(value[target:], '\n')
		if i < 0 {
			return diag.Pos{}, false
		}
		target += i + 1
	}
	target += col

	li, ci := n.ValuePos.Line-1, n.ValuePos.Col-1
	runesAt := func(li int) []rune {
		if li >= len(src.lines) {
			return nil
		}
		return []rune(strings.TrimSuffix(src.lines[li], "\r"))
	}
	text := runesAt(li)
	end := contentEnd(text)
	for k := 0; k < target && k < len(value); k++ {
		vr := value[k]
		if ci > len(text) {
			return diag.Pos{}, false
		}
		if (vr == ' ' || vr == '\n') && ci >= end {
			// A line break folded into one space, or into one \n per blank line.
			blank := 0
			for li++; li < len(src.lines) && strings.TrimSpace(src.lines[li]) == ""; li++ {
				blank++
			}
			text = runesAt(li)
			end = contentEnd(text)
			ci = 0
			for ci < len(text) && (text[ci] == ' ' || text[ci] == '\t') {
				ci++
			}
			k += max(blank, 1) - 1
			continue
		}
		if ci >= len(text) {
			return diag.Pos{}, false
		}
		switch sr := text[ci]; {
		case src.double && sr == '\\' && ci+1 < len(text):
			ci += escapeLen(text[ci+1])
		case src.single && sr == '\'' && ci+1 < len(text) && text[ci+1] == '\'':
			ci += 2
		case sr == vr:
			ci++
		default:
			return diag.Pos{}, false // the value differs from the file: interpolated
		}
	}
	if li >= len(src.lines) {
		return diag.Pos{}, false
	}
	return diag.Pos{File: n.Pos.File, Line: li + 1, Col: ci + 1}, true
}

// contentEnd is the index after the last non-blank rune of text.
func contentEnd(text []rune) int {
	end := len(text)
	for end > 0 && (text[end-1] == ' ' || text[end-1] == '\t') {
		end--
	}
	return end
}

func indexRune(rs []rune, r rune) int {
	for i, x := range rs {
		if x == r {
			return i
		}
	}
	return -1
}

// escapeLen is the length of a double-quoted escape whose letter is e.
func escapeLen(e rune) int {
	switch e {
	case 'x':
		return 4
	case 'u':
		return 6
	case 'U':
		return 10
	}
	return 2
}
