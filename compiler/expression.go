package compiler

import (
	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/expression"
)

// CompileExpression compiles one expression outside a flow (a flow
// test's condition, `flowrun eval`) with the checks, positions, caret
// snippets and scope hints a flow's expressions get. n is its scalar;
// a Node built by hand (no file) places errors from its ValuePos.
func CompileExpression(n *dsl.Node, scope expression.Scope) (*expression.Program, diag.List) {
	c := &compiler{}
	p := c.expr(n, scope)
	return p, c.ds
}
