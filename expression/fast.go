package expression

import (
	"math"

	"github.com/expr-lang/expr/ast"
	"github.com/flowrun/flowrun/message"
)

// fastFn evaluates a message-scoped program as a tree of Go closures
// instead of expr's VM: for the shapes flows use most (payload field
// reads, comparisons, arithmetic, && || !, ?:, ??, int(), float(),
// round(), string(), map literals) it is several times faster. It reports false as soon as a
// value is not of a type it handles exactly as expr does (int, float64,
// string, bool, nil, plain maps); the Runner then runs the VM, so every
// result and every error stays expr's own. Closures have no side effects,
// which makes that second run safe. fast_test.go checks the two agree.
type fastFn func(e *messageEnv) (any, bool)

// compileFast returns the closure tree of an expression, or nil when some
// node is not in the subset (the program then always runs on the VM).
func compileFast(n ast.Node) fastFn {
	if c, ok := n.(*ast.CallNode); ok {
		if fn, isBudget := budgetFast(c); isBudget {
			return fn
		}
	}
	switch n := n.(type) {
	case *ast.NilNode:
		return constant(nil)
	case *ast.IntegerNode:
		return constant(n.Value)
	case *ast.FloatNode:
		return constant(n.Value)
	case *ast.StringNode:
		return constant(n.Value)
	case *ast.BoolNode:
		return constant(n.Value)
	case *ast.IdentifierNode:
		return identifier(n.Value)
	case *ast.CallNode:
		return call(n)
	case *ast.MemberNode:
		return metaRead(n)
	case *ast.UnaryNode:
		return unary(n)
	case *ast.BinaryNode:
		return binary(n)
	case *ast.ConditionalNode:
		return conditional(n)
	case *ast.BuiltinNode:
		return builtin(n)
	case *ast.MapNode:
		return mapLiteral(n)
	}
	return nil
}

func constant(v any) fastFn {
	return func(*messageEnv) (any, bool) { return v, true }
}

func identifier(name string) fastFn {
	switch name {
	case "payload":
		return func(e *messageEnv) (any, bool) {
			if _, partial := e.Payload.(*message.Fields); partial {
				return nil, false // the whole payload: the VM gets it decoded
			}
			return e.Payload, true
		}
	case "meta":
		return func(e *messageEnv) (any, bool) { return e.Meta, true }
	case "key":
		return func(e *messageEnv) (any, bool) { return e.Key, true }
	case "topic":
		return func(e *messageEnv) (any, bool) { return e.Topic, true }
	case "id":
		return func(e *messageEnv) (any, bool) { return e.ID, true }
	}
	return nil
}

// call is a call of a function flowrun defines: a payload field read or
// one of the conversions that replace expr's builtins.
func call(n *ast.CallNode) fastFn {
	id, ok := n.Callee.(*ast.IdentifierNode)
	switch {
	case !ok:
		return nil
	case id.Value == fieldFunc && len(n.Arguments) == 2:
		return fieldRead(n)
	case len(n.Arguments) == 1:
		return conversion(id.Value, compileFast(n.Arguments[0]))
	}
	return nil
}

// fieldRead is the payload field read the payloadFields patch wrote:
// from a map it gives the value or nil, as fieldOption does.
func fieldRead(n *ast.CallNode) fastFn {
	key, ok := n.Arguments[1].(*ast.StringNode)
	from := compileFast(n.Arguments[0])
	if root, isIdent := n.Arguments[0].(*ast.IdentifierNode); isIdent && root.Value == "payload" {
		// A field of the payload itself, which may be a message.Fields.
		from = func(e *messageEnv) (any, bool) { return e.Payload, true }
	}
	if !ok || from == nil {
		return nil
	}
	k := key.Value
	return func(e *messageEnv) (any, bool) {
		v, ok := from(e)
		if !ok {
			return nil, false
		}
		switch o := v.(type) {
		case map[string]any:
			return o[k], true
		case *message.Fields:
			return o.Get(k)
		}
		return nil, false
	}
}

// metaRead is meta.name or meta["name"]: a missing entry reads "" in
// expr (the zero value of the map's element type).
func metaRead(n *ast.MemberNode) fastFn {
	id, ok := n.Node.(*ast.IdentifierNode)
	key, isString := n.Property.(*ast.StringNode)
	if !ok || id.Value != "meta" || !isString || n.Optional || n.Method {
		return nil
	}
	k := key.Value
	return func(e *messageEnv) (any, bool) { return e.Meta[k], true }
}

func unary(n *ast.UnaryNode) fastFn {
	x := compileFast(n.Node)
	if x == nil {
		return nil
	}
	switch n.Operator {
	case "!", "not":
		return func(e *messageEnv) (any, bool) {
			v, ok := x(e)
			b, isBool := v.(bool)
			return !b, ok && isBool
		}
	case "-":
		return func(e *messageEnv) (any, bool) {
			v, ok := x(e)
			if !ok {
				return nil, false
			}
			switch v := v.(type) {
			case float64:
				return -v, true
			case int:
				return -v, true
			}
			return nil, false
		}
	}
	return nil
}

func conditional(n *ast.ConditionalNode) fastFn {
	cond, yes, no := compileFast(n.Cond), compileFast(n.Exp1), compileFast(n.Exp2)
	if cond == nil || yes == nil || no == nil {
		return nil
	}
	return func(e *messageEnv) (any, bool) {
		c, ok := cond(e)
		b, isBool := c.(bool)
		switch {
		case !ok || !isBool:
			return nil, false
		case b:
			return yes(e)
		}
		return no(e)
	}
}

func builtin(n *ast.BuiltinNode) fastFn {
	if len(n.Arguments) != 1 {
		return nil
	}
	x := compileFast(n.Arguments[0])
	if x == nil {
		return nil
	}
	switch n.Name {
	case "round": // expr's round: a float64 always
		return func(e *messageEnv) (any, bool) {
			v, ok := x(e)
			switch v := v.(type) {
			case float64:
				return math.Round(v), ok
			case int:
				return float64(v), ok
			}
			return nil, false
		}
	case "float":
		return func(e *messageEnv) (any, bool) {
			v, ok := x(e)
			switch v := v.(type) {
			case float64:
				return v, ok
			case int:
				return float64(v), ok
			}
			return nil, false
		}
	}
	return nil
}

// conversion is int() or string() (convert.go) on the values it takes
// without an error; anything else, such as a float out of the int64
// range, goes to the VM for its error.
func conversion(name string, x fastFn) fastFn {
	if x == nil {
		return nil
	}
	switch name {
	case "int":
		return func(e *messageEnv) (any, bool) {
			v, ok := x(e)
			switch v := v.(type) {
			case float64:
				i, fits := floatToInt(v)
				return i, ok && fits
			case int:
				return v, ok
			}
			return nil, false
		}
	case "string":
		return func(e *messageEnv) (any, bool) {
			v, ok := x(e)
			if v != nil && !isScalar(v) {
				return nil, false
			}
			return message.FormatValue(v), ok
		}
	}
	return nil
}

// mapLiteral builds the map as expr's OpMap does: pairs are assigned
// last to first, so of two equal keys the first one wins.
func mapLiteral(n *ast.MapNode) fastFn {
	keys := make([]string, len(n.Pairs))
	values := make([]fastFn, len(n.Pairs))
	for i, p := range n.Pairs {
		pair, ok := p.(*ast.PairNode)
		if !ok {
			return nil
		}
		k, ok := pair.Key.(*ast.StringNode)
		if !ok {
			return nil
		}
		if keys[i], values[i] = k.Value, compileFast(pair.Value); values[i] == nil {
			return nil
		}
	}
	return func(e *messageEnv) (any, bool) {
		m := make(map[string]any, len(keys))
		for i := len(keys) - 1; i >= 0; i-- {
			v, ok := values[i](e)
			if !ok {
				return nil, false
			}
			m[keys[i]] = v
		}
		return m, true
	}
}
