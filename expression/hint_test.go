package expression

import (
	"errors"
	"strings"
	"testing"
)

// map(xs, {"a": #}) failed with a bare `unexpected token Operator(":")`.
func TestClosureMeantAsAMapGetsAHint(t *testing.T) {
	for src, fixed := range map[string]string{
		`map(payload.xs, {"a": #})`:               `map(payload.xs, {{"a": #}})`,
		`map(payload.xs, {"a": #.x, "b": [1]})`:   `map(payload.xs, {{"a": #.x, "b": [1]}})`,
		`"ü" + toJSON(map(payload.xs, {"é": #}))`: `"ü" + toJSON(map(payload.xs, {{"é": #}}))`,
		`len(map(payload.xs, {"a": # > 1})) > 0`:  `len(map(payload.xs, {{"a": # > 1}})) > 0`,
	} {
		want := fixed[strings.Index(fixed, "{{") : strings.LastIndex(fixed, "}}")+2]
		_, err := Compile(src, MessageScope)
		var ee *Error
		if !errors.As(err, &ee) || ee.Message != `unexpected token Operator(":"); braces in a call's argument make a closure, not a map: to build a map for each item write `+want {
			t.Errorf("%s: %v", src, err)
		}
		if _, err := Compile(fixed, MessageScope); err != nil {
			t.Errorf("the hinted %s does not compile: %v", fixed, err)
		}
	}
	// A colon out of place elsewhere gets no such hint.
	for _, src := range []string{`{"a" 1: 2}`, `payload.a : 1`, `[1: 2]`} {
		if _, err := Compile(src, MessageScope); err == nil || strings.Contains(err.Error(), "closure") {
			t.Errorf("%s: %v", src, err)
		}
	}
}
