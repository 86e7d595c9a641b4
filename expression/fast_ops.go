package expression

import (
	"github.com/expr-lang/expr/ast"
)

// binary compiles the operators of the fast subset. Each handles the
// operand types it knows exactly as expr's runtime does (numbers mix int
// and float64 by converting to float64; / always gives float64) and
// reports false for any other pair, which expr may accept, reject or
// compare by reflection: the VM decides those.
func binary(n *ast.BinaryNode) fastFn {
	l, r := compileFast(n.Left), compileFast(n.Right)
	if l == nil || r == nil {
		return nil
	}
	switch n.Operator {
	case "&&", "and":
		return logical(l, r, false)
	case "||", "or":
		return logical(l, r, true)
	case "??":
		return func(e *messageEnv) (any, bool) {
			v, ok := l(e)
			switch {
			case !ok:
				return nil, false
			case v == nil:
				return r(e)
			case isScalar(v):
				return v, true
			}
			return nil, false // a typed nil is nil to expr: let it decide
		}
	case "==":
		return compare(l, r, equal)
	case "!=":
		return compare(l, r, func(a, b any) (bool, bool) {
			eq, ok := equal(a, b)
			return !eq, ok
		})
	case "<":
		return compare(l, r, ordered(func(a, b int) bool { return a < b }, func(a, b float64) bool { return a < b }, func(a, b string) bool { return a < b }))
	case "<=":
		return compare(l, r, ordered(func(a, b int) bool { return a <= b }, func(a, b float64) bool { return a <= b }, func(a, b string) bool { return a <= b }))
	case ">":
		return compare(l, r, ordered(func(a, b int) bool { return a > b }, func(a, b float64) bool { return a > b }, func(a, b string) bool { return a > b }))
	case ">=":
		return compare(l, r, ordered(func(a, b int) bool { return a >= b }, func(a, b float64) bool { return a >= b }, func(a, b string) bool { return a >= b }))
	case "+":
		return arithmetic(l, r, func(a, b int) any { return a + b }, func(a, b float64) any { return a + b }, true)
	case "-":
		return arithmetic(l, r, func(a, b int) any { return a - b }, func(a, b float64) any { return a - b }, false)
	case "*":
		return arithmetic(l, r, func(a, b int) any { return a * b }, func(a, b float64) any { return a * b }, false)
	case "/":
		return arithmetic(l, r, func(a, b int) any { return float64(a) / float64(b) }, func(a, b float64) any { return a / b }, false)
	}
	return nil
}

// logical is && (or) and || (or true): short-circuit on a bool left
// side, as the VM's jumps do.
func logical(l, r fastFn, or bool) fastFn {
	return func(e *messageEnv) (any, bool) {
		v, ok := l(e)
		b, isBool := v.(bool)
		switch {
		case !ok || !isBool:
			return nil, false
		case b == or:
			return b, true
		}
		v, ok = r(e)
		b, isBool = v.(bool)
		return b, ok && isBool
	}
}

func compare(l, r fastFn, op func(a, b any) (bool, bool)) fastFn {
	return func(e *messageEnv) (any, bool) {
		a, okA := l(e)
		b, okB := r(e)
		if !okA || !okB {
			return nil, false
		}
		res, ok := op(a, b)
		return res, ok
	}
}

// equal is runtime.Equal for the fast types: numbers by value (int with
// int exactly, any other mix as float64), strings, bools; values of
// different kinds are never equal (expr's reflect.DeepEqual fallback),
// and nil equals only nil.
func equal(a, b any) (bool, bool) {
	switch x := a.(type) {
	case int:
		switch y := b.(type) {
		case int:
			return x == y, true
		case float64:
			return float64(x) == y, true
		}
	case float64:
		switch y := b.(type) {
		case int:
			return x == float64(y), true
		case float64:
			return x == y, true
		}
	case string:
		if y, ok := b.(string); ok {
			return x == y, true
		}
	case bool:
		if y, ok := b.(bool); ok {
			return x == y, true
		}
	}
	if (a == nil || isScalar(a)) && (b == nil || isScalar(b)) {
		return a == nil && b == nil, true
	}
	return false, false
}

// ordered is one of < <= > >=: ints with ints exactly, other number
// mixes as float64, strings with strings.
func ordered(ints func(a, b int) bool, floats func(a, b float64) bool, strs func(a, b string) bool) func(a, b any) (bool, bool) {
	return func(a, b any) (bool, bool) {
		if x, ok := a.(int); ok {
			if y, ok := b.(int); ok {
				return ints(x, y), true
			}
		}
		if x, y, ok := numbers(a, b); ok {
			return floats(x, y), true
		}
		if x, ok := a.(string); ok {
			if y, ok := b.(string); ok {
				return strs(x, y), true
			}
		}
		return false, false
	}
}

// arithmetic keeps int op int as int (Go's wrapping), turns any other
// mix of int and float64 into float64, and with concat adds strings.
func arithmetic(l, r fastFn, ints func(a, b int) any, floats func(a, b float64) any, concat bool) fastFn {
	return func(e *messageEnv) (any, bool) {
		a, okA := l(e)
		b, okB := r(e)
		if !okA || !okB {
			return nil, false
		}
		if x, ok := a.(int); ok {
			if y, ok := b.(int); ok {
				return ints(x, y), true
			}
		}
		if x, y, ok := numbers(a, b); ok {
			return floats(x, y), true
		}
		if x, ok := a.(string); ok && concat {
			if y, ok := b.(string); ok {
				return x + y, true
			}
		}
		return nil, false
	}
}

// numbers converts a pair of int/float64 values to float64.
func numbers(a, b any) (float64, float64, bool) {
	x, ok := number(a)
	if !ok {
		return 0, 0, false
	}
	y, ok := number(b)
	return x, y, ok
}

func number(v any) (float64, bool) {
	switch v := v.(type) {
	case float64:
		return v, true
	case int:
		return float64(v), true
	}
	return 0, false
}

// isScalar reports whether v is one of the fast types whose nil-ness
// needs no reflection (a nil any is not among them).
func isScalar(v any) bool {
	switch v.(type) {
	case string, float64, int, bool:
		return true
	}
	return false
}
