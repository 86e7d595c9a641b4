package expression

import (
	"reflect"
	"strings"

	"github.com/expr-lang/expr/ast"
)

// budgetPatch routes what can grow without bound through the budget
// functions: `+` that may join strings, calls that build a string, and
// each iteration of a closure (whose body becomes `step(); body`).
// It runs after expr's first type check, so node types are known.
type budgetPatch struct{}

func (budgetPatch) Visit(node *ast.Node) {
	switch n := (*node).(type) {
	case *ast.BinaryNode:
		if n.Operator != "+" || !maybeString(n.Left) || !maybeString(n.Right) {
			return
		}
		fn := addFunc
		if isString(n.Left) && isString(n.Right) {
			fn = concatFunc
		}
		ast.Patch(node, budgetCall(fn, n.Left, n.Right))
	case *ast.BuiltinNode:
		switch {
		case isString(n):
			ast.Patch(node, budgetCall(countFunc, n))
		case n.Type() == stringsType: // split(s, "") makes a string header per byte
			ast.Patch(node, budgetCall(countsFunc, n))
		}
	case *ast.CallNode:
		if id, ok := n.Callee.(*ast.IdentifierNode); ok && !strings.HasPrefix(id.Value, "__flowrun_") && isString(n) {
			ast.Patch(node, budgetCall(countFunc, n))
		}
	case *ast.PredicateNode:
		step := &ast.CallNode{Callee: &ast.IdentifierNode{Value: stepVar}}
		step.SetLocation(n.Node.Location())
		n.Node = &ast.SequenceNode{Nodes: []ast.Node{step, n.Node}}
		n.Node.SetLocation(step.Location())
	}
}

// budgetCall is fn(__flowrun_budget, args...).
func budgetCall(fn string, args ...ast.Node) *ast.CallNode {
	return &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: fn},
		Arguments: append([]ast.Node{&ast.IdentifierNode{Value: budgetName}}, args...),
	}
}

var stringsType = reflect.TypeOf([]string(nil))

func isString(n ast.Node) bool {
	t := n.Type()
	return t != nil && t.Kind() == reflect.String
}

// maybeString: a string, or a value whose type is known only at run time.
func maybeString(n ast.Node) bool {
	t := n.Type()
	return t == nil || t.Kind() == reflect.String || t.Kind() == reflect.Interface
}

// stepVar holds the environment's step function in a program with
// closures: `let __flowrun_stepv = __flowrun_step; <program>`. Closures
// call the variable, which costs an index where the environment field
// costs a reflective read on every iteration.
const stepVar = "__flowrun_stepv"

// stepBinding declares stepVar around the whole program when it has a
// closure. expr walks a tree children first, so the last node visited is
// the root, and calls ShouldRepeat after the walk: that is where the root
// can be wrapped.
type stepBinding struct {
	root  *ast.Node
	loops bool
}

func (s *stepBinding) Visit(node *ast.Node) {
	s.root = node
	if _, ok := (*node).(*ast.PredicateNode); ok {
		s.loops = true
	}
}

func (s *stepBinding) Reset() { *s = stepBinding{} }

func (s *stepBinding) ShouldRepeat() bool {
	if v, done := (*s.root).(*ast.VariableDeclaratorNode); s.loops && !(done && v.Name == stepVar) {
		body := *s.root
		*s.root = &ast.VariableDeclaratorNode{Name: stepVar, Value: &ast.IdentifierNode{Value: stepFunc}, Expr: body}
		(*s.root).SetLocation(body.Location())
	}
	return false
}

// isBudgetCall reports whether n is a call the budget patch wrote, and
// its operands (without the budget).
func isBudgetCall(n *ast.CallNode, fn ...string) ([]ast.Node, bool) {
	id, ok := n.Callee.(*ast.IdentifierNode)
	if !ok || len(n.Arguments) == 0 {
		return nil, false
	}
	for _, f := range fn {
		if id.Value == f {
			return n.Arguments[1:], true
		}
	}
	return nil, false
}

// budgetFast compiles, for the fast path, a call the budget patch wrote
// as what it wraps: no loop runs there, so what it builds is bounded by
// the expression's size and needs no budget.
func budgetFast(n *ast.CallNode) (fastFn, bool) {
	if operands, ok := isBudgetCall(n, addFunc, concatFunc); ok {
		l, r := compileFast(operands[0]), compileFast(operands[1])
		if l == nil || r == nil {
			return nil, true
		}
		return arithmetic(l, r, func(a, b int) any { return a + b }, func(a, b float64) any { return a + b }, true), true
	}
	if operands, ok := isBudgetCall(n, countFunc); ok {
		return compileFast(operands[0]), true
	}
	return nil, false
}
