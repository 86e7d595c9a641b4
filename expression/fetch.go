package expression

import (
	"fmt"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/vm/runtime"
)

// fieldFunc is the function payload field reads are rewritten to call.
const fieldFunc = "__flowrun_field"

// payloadFields rewrites `payload.a.b` (and payload["a"]) into calls of
// fieldFunc. expr reads a field of an `any` value through reflection,
// which allocates on every read; payloads are almost always
// map[string]any, which the function reads directly. Anything else falls
// back to expr's own lookup, so results and errors are unchanged.
type payloadFields struct{}

func (payloadFields) Visit(node *ast.Node) {
	m, ok := (*node).(*ast.MemberNode)
	if !ok || m.Optional || m.Method {
		return
	}
	prop, ok := m.Property.(*ast.StringNode)
	if !ok || !rootedAtPayload(m.Node) {
		return
	}
	ast.Patch(node, &ast.CallNode{
		Callee:    &ast.IdentifierNode{Value: fieldFunc},
		Arguments: []ast.Node{m.Node, &ast.StringNode{Value: prop.Value}},
	})
}

func rootedAtPayload(n ast.Node) bool {
	switch n := n.(type) {
	case *ast.IdentifierNode:
		return n.Value == "payload"
	case *ast.CallNode:
		id, ok := n.Callee.(*ast.IdentifierNode)
		return ok && id.Value == fieldFunc
	}
	return false
}

var fieldOption = expr.Function(fieldFunc, func(params ...any) (any, error) {
	key := params[1].(string)
	switch v := params[0].(type) {
	case map[string]any:
		return v[key], nil
	case nil:
		return nil, fmt.Errorf("cannot fetch %s from nil", key)
	}
	return fetchSlow(params[0], key)
}, new(func(any, string) any))

func fetchSlow(from any, key string) (v any, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	return runtime.Fetch(from, key), nil
}
