package expression

import (
	"errors"
	"strings"
	"testing"
)

func TestEvalErrorsSpeakTheFlowsTypes(t *testing.T) {
	payload := map[string]any{"a": "str", "l": []any{1, 2}, "m": map[string]any{"name": "Zoë"},
		"n": 1, "f": 1.5, "z": nil, "b": true}
	cases := map[string]string{
		`payload.a[0].price`:     `cannot read price from an integer (1:14)`,
		`payload.a.b`:            `cannot index a string or list with a name; use a number (1:11)`,
		`payload.l["a"]`:         `cannot index a string or list with a name; use a number (1:10)`,
		`payload.m[0]`:           `cannot index an object with an integer; use a name (1:10)`,
		`payload.n.x`:            `cannot read x from an integer (1:11)`,
		`payload.z.x`:            `cannot read x from null (1:11)`,
		`payload.z[0]`:           `cannot read 0 from null (1:10)`,
		`payload.b.x`:            `cannot read x from a bool (1:11)`,
		`payload.l + 1`:          `invalid operation: a list + an integer (1:11)`,
		`payload.m > 1`:          `invalid operation: an object > an integer (1:11)`,
		`payload.f % 2`:          `invalid operation: a float % an integer (1:11)`,
		`payload.l[5]`:           `index 5 is out of range (length 2) (1:10)`,
		`len(payload.n)`:         `len needs a string, list or object, got an integer (1:1)`,
		`upper(payload.n)`:       `want a string, got an integer (1:1)`,
		`lower(payload.l)`:       `want a string, got a list (1:1)`,
		`-payload.a`:             `invalid operation: - on a string (1:1)`,
		`float(payload.l)`:       `float() cannot convert a list (1:1)`,
		`payload.n()`:            `cannot call an integer (1:9)`,
		`payload.a in payload.n`: `operator "in" is not defined on an integer (1:11)`,
		`upper`:                  `unknown name "upper" (1:1)`,
		`payload.m | map(#)`:     `want a list, got an object (1:17)`,
		`sum(payload.m)`:         `want a list, got an object (1:1)`,
		`keys(payload.l)`:        `keys needs an object, got a list (1:1)`,
		`abs(payload.a)`:         `abs cannot take a string (1:1)`,
	}
	r := NewRunner()
	for src, want := range cases {
		p, err := Compile(src, MessageScope)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		_, err = r.Eval(p, payload, nil, "", "", "")
		var ee *EvalError
		if !errors.As(err, &ee) {
			t.Fatalf("%s: error %v is not an *EvalError", src, err)
		}
		lines := strings.Split(err.Error(), "\n")
		if lines[0] != want {
			t.Errorf("%s:\n got %s\nwant %s", src, lines[0], want)
		}
		// The expression is printed once, as written, with its caret.
		if len(lines) != 3 || lines[1] != " | "+src || !strings.HasSuffix(lines[2], "^") || strings.Contains(lines[0], `expression "`) {
			t.Errorf("%s: snippet %q", src, err.Error())
		}
		for _, internal := range []string{"interface {}", "reflect", "expression.", "[]", "map[", "float64", "uint8", "<nil>"} {
			if strings.Contains(lines[0], internal) {
				t.Errorf("%s: %q shows Go's %q", src, lines[0], internal)
			}
		}
	}
}

func TestTypeName(t *testing.T) {
	for v, want := range map[any]string{nil: "null", "s": "string", true: "bool", 1: "number", 1.5: "number"} {
		if got := TypeName(v); got != want {
			t.Errorf("TypeName(%#v) = %s, want %s", v, got, want)
		}
	}
	if TypeName([]any{1}) != "list" || TypeName(map[string]any{}) != "object" || A(map[string]any{}) != "an object" || A([]any{}) != "a list" {
		t.Error("list/object names")
	}
}
