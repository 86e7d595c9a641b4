package expression

import (
	"fmt"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser/lexer"
)

// closureMapHint explains expr's `unexpected token Operator(":")` when a
// closure's braces were meant as a map literal, as in map(xs, {"a": #}):
// the braces of an argument open a closure, so a map built per item
// needs its own braces inside them: map(xs, {{"a": #}}).
func closureMapHint(src string, fe *file.Error) string {
	if fe.Message != `unexpected token Operator(":")` {
		return ""
	}
	tokens, err := lexer.Lex(file.NewSource(src))
	if err != nil {
		return ""
	}
	var open []int // indexes of unclosed brackets
	for i, t := range tokens {
		switch {
		case t.Kind == lexer.Bracket && (t.Value == "(" || t.Value == "[" || t.Value == "{"):
			open = append(open, i)
		case t.Kind == lexer.Bracket && len(open) > 0:
			open = open[:len(open)-1]
		case t.Location == fe.Location && t.Is(lexer.Operator, ":"):
			if len(open) == 0 {
				return ""
			}
			brace := open[len(open)-1]
			if !tokens[brace].Is(lexer.Bracket, "{") || brace == 0 || !(tokens[brace-1].Is(lexer.Operator, ",") || tokens[brace-1].Is(lexer.Bracket, "(")) {
				return ""
			}
			literal := "{...}"
			if end := closing(tokens, brace); end > 0 {
				literal = string([]rune(src)[tokens[brace].From:tokens[end].To])
			}
			return fmt.Sprintf("; braces in a call's argument make a closure, not a map: to build a map for each item write {%s}", literal)
		}
	}
	return ""
}

// closing is the index of the bracket that closes tokens[open], or 0.
func closing(tokens []lexer.Token, open int) int {
	depth := 0
	for i := open; i < len(tokens); i++ {
		if tokens[i].Kind != lexer.Bracket {
			continue
		}
		switch tokens[i].Value {
		case "(", "[", "{":
			depth++
		default:
			if depth--; depth == 0 {
				return i
			}
		}
	}
	return 0
}
