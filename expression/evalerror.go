package expression

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/expr-lang/expr/file"
)

// EvalError is an expression that failed on a message: what went wrong
// in the words of a flow's author (no Go types), and where, with the
// expression and a caret printed once.
type EvalError struct {
	Message      string
	Line, Column int    // 1-based; 0 when expr did not say
	Snippet      string // "\n | source\n | ....^"
	Err          error  // expr's own error
}

func (e *EvalError) Error() string {
	if e.Line == 0 {
		return e.Message + e.Snippet
	}
	return fmt.Sprintf("%s (%d:%d)%s", e.Message, e.Line, e.Column, e.Snippet)
}

func (e *EvalError) Unwrap() error { return e.Err }

// evalError turns an error of expr's VM running p into an *EvalError.
func evalError(p *Program, err error) error {
	var fe *file.Error
	if !errors.As(err, &fe) {
		return &EvalError{Message: userMessage(err.Error()), Snippet: "\n | " + firstLine(p.Source), Err: err}
	}
	e := &EvalError{Message: userMessage(fe.Message), Snippet: fe.Snippet, Err: err}
	if fe.Snippet == "" {
		e.Snippet = "\n | " + firstLine(p.Source)
	} else {
		e.Line, e.Column = fe.Line, fe.Column+1
	}
	return e
}

// panicError is a panic while running p (expr recovers most itself).
func panicError(p *Program, rec any) error {
	return &EvalError{Message: "expression failed: " + userMessage(fmt.Sprint(rec)), Snippet: "\n | " + firstLine(p.Source)}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i] + " ..."
	}
	return s
}

// goType matches the Go type names expr's messages use.
const goType = `map\[string\]interface \{\}|\[\]interface \{\}|interface \{\}|\*?[\w.]+|<nil>`

// rewrites put expr's runtime messages in a flow author's words; the
// first match wins. %[n]s in a template is the n-th submatch, with Go
// type names translated (see typeWord).
var rewrites = []struct {
	re   *regexp.Regexp
	tmpl string
}{
	{regexp.MustCompile(`^cannot fetch (\S+) from \*expression\.\w+$`), `unknown name %[1]q`},
	{regexp.MustCompile(`^cannot fetch (.+) from (` + goType + `)$`), `cannot read %[1]s from %[2]a`},
	{regexp.MustCompile(`^invalid operation: int\(string\)$`), `cannot index a string or list with a name; use a number`},
	{regexp.MustCompile(`^reflect\.Value\.MapIndex: value of type (` + goType + `) is not assignable to type string$`), `cannot index an object with %[1]a; use a name`},
	{regexp.MustCompile(`^reflect: call of reflect\.Value\.(?:Index|Len) on (\w+) Value$`), `want a list, got %[1]k`},
	{regexp.MustCompile(`^reflect: call of reflect\.Value\.(\w+) on (\w+) Value$`), `cannot use %[2]k here`},
	{regexp.MustCompile(`^reflect: call of reflect\.Value\.(\w+) on zero Value$`), `cannot index null`},
	{regexp.MustCompile(`^interface conversion: interface \{\} is (` + goType + `), not (` + goType + `)$`), `want %[2]a, got %[1]a`},
	{regexp.MustCompile(`^invalid operation: (` + goType + `) (\S+) (` + goType + `)$`), `invalid operation: %[1]a %[2]s %[3]a`},
	{regexp.MustCompile(`^invalid operation: (\S+) (` + goType + `)$`), `invalid operation: %[1]s on %[2]a`},
	{regexp.MustCompile(`^invalid argument for len \(type (` + goType + `)\)$`), `len needs a string, list or object, got %[1]a`},
	{regexp.MustCompile(`^invalid argument for (\w+) \(type (` + goType + `)\)$`), `%[1]s cannot take %[2]a`},
	{regexp.MustCompile(`^cannot get (keys|values) from (\w+)$`), `%[1]s needs an object, got %[2]k`},
	{regexp.MustCompile(`^invalid operation: cannot call non-function of type (` + goType + `)$`), `cannot call %[1]a`},
	{regexp.MustCompile(`^operator "(\w+)" not defined on (` + goType + `)$`), `operator %[1]q is not defined on %[2]a`},
	{regexp.MustCompile(`^invalid operation: (int|float)\((.+)\)$`), `%[1]s() cannot convert %[2]v`},
	{regexp.MustCompile(`^index out of range: (-?\d+) \(array length is (\d+)\)$`), `index %[1]s is out of range (length %[2]s)`},
}

// userMessage translates one of expr's runtime messages.
func userMessage(msg string) string {
	for _, r := range rewrites {
		m := r.re.FindStringSubmatch(msg)
		if m == nil {
			continue
		}
		return expand(r.tmpl, m)
	}
	return msg
}

// expand fills tmpl: %[n]s is submatch n as is, %[n]q quoted, %[n]a the
// Go type it names with an article, %[n]k a reflect.Kind the same way,
// %[n]v a Go type if it is one, else a value, quoted.
var verb = regexp.MustCompile(`%\[(\d)\]([sqakv])`)

func expand(tmpl string, m []string) string {
	return verb.ReplaceAllStringFunc(tmpl, func(v string) string {
		parts := verb.FindStringSubmatch(v)
		s := m[int(parts[1][0]-'0')]
		switch parts[2] {
		case "q":
			return fmt.Sprintf("%q", s)
		case "a":
			return article(typeWord(s))
		case "k":
			return article(kindWord(s))
		case "v":
			if w := typeWord(s); w != "value" || s == "interface {}" {
				return article(w)
			}
			return fmt.Sprintf("%q", s)
		}
		return s
	})
}

// typeWord names a Go type as TypeName would name its values; integer
// and float stay apart here, as expr's arithmetic tells them apart.
func typeWord(goName string) string {
	switch goName {
	case "<nil>", "nil":
		return "null"
	case "string":
		return "string"
	case "bool":
		return "bool"
	case "int", "int8", "int16", "int32", "int64", "uint", "uint8", "uint16", "uint32", "uint64":
		return "integer"
	case "float32", "float64":
		return "float"
	case "[]interface {}":
		return "list"
	case "map[string]interface {}":
		return "object"
	case "interface {}":
		return "value"
	}
	switch {
	case strings.HasPrefix(goName, "[]"):
		return "list"
	case strings.HasPrefix(goName, "map["):
		return "object"
	case strings.HasPrefix(goName, "func"):
		return "function"
	}
	return "value"
}

func kindWord(kind string) string {
	switch kind {
	case "slice", "array":
		return "list"
	case "map", "struct", "ptr":
		return "object"
	case "string":
		return "string"
	case "bool":
		return "bool"
	case "interface":
		return "null"
	}
	if strings.HasPrefix(kind, "int") || strings.HasPrefix(kind, "uint") {
		return "integer"
	}
	if strings.HasPrefix(kind, "float") {
		return "float"
	}
	return "value"
}
