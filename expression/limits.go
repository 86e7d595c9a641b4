package expression

import (
	"fmt"

	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/parser/lexer"
)

// Limits on an expression's text, checked before expr parses it: expr's
// parser recurses once per nesting level (brackets, runs of unary
// operators, ?:, **, let, if) before it counts nodes, so `-` a million
// times overflows the Go stack. Real expressions are a few hundred bytes
// and nest a handful of levels deep.
const (
	MaxExpressionBytes = 64 << 10
	MaxExpressionDepth = 100
)

// checkLimits scans src's tokens (expr's lexer is a loop, not a
// recursion) and estimates the parser's recursion depth from above. It
// returns nil when src is within the limits or does not lex (expr then
// reports the lexing error itself).
func checkLimits(src string) *Error {
	if len(src) > MaxExpressionBytes {
		return &Error{Line: 1, Message: fmt.Sprintf(
			"expression is %d bytes, over the limit of %d (64 KiB); split it over several stages", len(src), MaxExpressionBytes)}
	}
	source := file.NewSource(src)
	l := lexer.New()
	l.Reset(source)
	d := depthScan{}
	for {
		tok, err := l.Next()
		if err != nil { // io.EOF or a lexing error expr reports
			return nil
		}
		if d.add(tok) > MaxExpressionDepth {
			fe := (&file.Error{Location: tok.Location, Message: fmt.Sprintf(
				"expression nests more than %d levels deep (brackets, unary operators, ?:, **); simplify it or split it over several stages",
				MaxExpressionDepth)}).Bind(source)
			return &Error{Line: fe.Line, Column: fe.Column, Message: fe.Message, Snippet: fe.Snippet}
		}
	}
}

// depthScan keeps, per open bracket, the depth where the bracket opened
// (base), the right-nesting constructs seen since the last `,` or `;`
// (chain: `?`, `**`, `^`), those that last until the bracket closes
// (held: let, if), and the current run of unary operators, which ends
// at an operand.
type depthScan struct {
	base, chain, held, unary int
	outer                    []depthScan
	afterOperand             bool
}

func (d *depthScan) depth() int { return d.base + d.chain + d.held + d.unary }

// add takes the next token and returns the depth estimate at it.
func (d *depthScan) add(t lexer.Token) int {
	switch {
	case t.Kind == lexer.Bracket && (t.Value == "(" || t.Value == "[" || t.Value == "{"):
		inner := depthScan{base: d.depth() + 1}
		saved := *d
		saved.outer = nil
		inner.outer = append(d.outer, saved)
		*d = inner
		return d.base
	case t.Kind == lexer.Bracket: // ) ] }
		if n := len(d.outer); n > 0 {
			outer := d.outer[:n-1]
			*d = d.outer[n-1]
			d.outer = outer
		}
		d.unary, d.afterOperand = 0, true
		return d.depth()
	case t.Kind == lexer.Operator:
		switch t.Value {
		case ",", ";":
			d.chain, d.unary = 0, 0
		case "#", ".", "?.":
			d.afterOperand = t.Value == "#"
			return d.depth()
		case "?", "**", "^":
			d.chain++
		case "let", "if":
			d.held++
		default:
			if !d.afterOperand {
				d.unary++
			}
		}
		d.afterOperand = false
		return d.depth()
	}
	d.unary, d.afterOperand = 0, true // an identifier, number or string
	return d.depth()
}
