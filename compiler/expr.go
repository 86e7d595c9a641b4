package compiler

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/expression"
)

// expr compiles the expression in scalar n. A compile error becomes a
// diagnostic at the line and column inside the YAML file, with expr's
// caret snippet. Every compiled program is remembered so the runtime
// knows whether any stage reads the payload.
func (c *compiler) expr(n *dsl.Node, scope expression.Scope) *expression.Program {
	if n.Kind != dsl.Scalar || n.Value == "" {
		c.errorf(n, "expected an expression, got %s", n.Describe())
		return nil
	}
	p, err := expression.Compile(n.Value, scope)
	if err != nil {
		var ee *expression.Error
		if !errors.As(err, &ee) {
			c.errorf(n, "%v", err)
			return nil
		}
		pos := n.TextPos(ee.Line, ee.Column)
		msg := ee.Message
		msg += scopeHint(scope, unknownName(msg))
		c.ds.Add(diag.Diagnostic{Pos: pos, Path: n.Path, Message: msg, Snippet: diag.CutSnippet(trimSnippet(ee.Snippet))})
		return nil
	}
	c.programs = append(c.programs, p)
	return p
}

// scopeHint says where an unknown name that exists in another scope can be used.
func scopeHint(scope expression.Scope, name string) string {
	switch {
	case name == "":
		return ""
	case scope != expression.ReduceScope && slices.Contains(expression.ReduceScope.Names(), name):
		return " (batch and batch_key exist only in a batch stage's reduce)"
	case scope != expression.GenerateScope && slices.Contains(expression.GenerateScope.Names(), name):
		return " (counter exists only in the generate source's payload)"
	case scope != expression.MessageScope && slices.Contains(expression.MessageScope.Names(), name):
		return fmt.Sprintf(" (in scope here: %s)", strings.Join(scope.Names(), ", "))
	}
	return ""
}

// unknownName pulls X out of expr's "unknown name X".
func unknownName(msg string) string {
	const prefix = "unknown name "
	if len(msg) > len(prefix) && msg[:len(prefix)] == prefix {
		return msg[len(prefix):]
	}
	return ""
}

func trimSnippet(s string) string {
	for len(s) > 0 && s[0] == '\n' {
		s = s[1:]
	}
	return s
}
