package expression

import (
	"errors"
	"strings"
	"testing"
)

// Each of these made expr's parser recurse once per character: a million
// `-` overflowed the Go stack (944 MB, a fatal error). Inputs stay under
// the byte limit so the depth check is what stops them.
func TestDeepExpressionsAreRefusedBeforeParsing(t *testing.T) {
	for name, src := range map[string]string{
		"unary minus": strings.Repeat("-", 60000) + "1",
		"not":         strings.Repeat("!", 60000) + "true",
		"parentheses": strings.Repeat("(", 30000) + "1" + strings.Repeat(")", 30000),
		"lists":       strings.Repeat("[", 30000) + strings.Repeat("]", 30000),
		"ternaries":   strings.Repeat("true ? ", 5000) + "1" + strings.Repeat(" : 2", 5000),
		"powers":      strings.Repeat("2 ** ", 12000) + "2",
	} {
		t.Run(name, func(t *testing.T) {
			_, err := Compile(src, MessageScope)
			var ee *Error
			if !errors.As(err, &ee) || !strings.Contains(ee.Message, "nests more than 100 levels") {
				t.Fatalf("got %v", err)
			}
			if ee.Line != 1 || ee.Column < MaxExpressionDepth/2 || ee.Column > 8*MaxExpressionDepth {
				t.Fatalf("position 1:%d, want near the token where the limit is passed", ee.Column)
			}
		})
	}
}

func TestLongExpressionIsRefusedBeforeParsing(t *testing.T) {
	_, err := Compile(strings.Repeat("-", 1_000_000)+"1", MessageScope)
	var ee *Error
	if !errors.As(err, &ee) || !strings.Contains(ee.Message, "1000001 bytes, over the limit of 65536") {
		t.Fatalf("got %v", err)
	}
}

// Flat expressions, however long, are not nesting: the depth estimate
// must not count a sibling's operators.
func TestWideExpressionsCompile(t *testing.T) {
	for name, src := range map[string]string{
		"sum of negatives": strings.Repeat("-1 + ", 300) + "1",
		"map of ternaries": "{" + strings.Repeat(`"a": payload.x > 1 ? -1 : 2, `, 200) + `"b": 1}`,
		"nested closures":  `map(payload.items, {filter(#.tags, {len(#) > 0 && !(# in ["a", "b"])})})`,
		"list of lists":    "[" + strings.Repeat("[1, [2, -3]], ", 300) + "1]",
		"let sequence":     "let a = 1; let b = a + 1; let c = b * -2; a + b + c",
		"deep but allowed": strings.Repeat("(", 90) + "1" + strings.Repeat(")", 90),
	} {
		if _, err := Compile(src, MessageScope); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
}
