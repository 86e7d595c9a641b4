package schema

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/registry"
)

// Patterns of the scalar types that YAML writes as strings. They accept
// what the compiler accepts (compiler/decode.go); the tests compare them
// with time.ParseDuration and compiler.ParseSize.
const (
	// A non-negative Go duration: 500ms, 1.5s, 1h30m, or a bare 0.
	durationPattern = `^(0|\+?(([0-9]+(\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h))+)$`
	// A byte size: 1048576, 64KiB, 1 MB (the compiler's sizeRE).
	sizePattern = `^\s*[0-9]+\s*([KMG]i?B|B)?\s*$`
	// ${VAR} and ${VAR:-default} are replaced before the file is checked,
	// so any typed scalar may be written as a string holding one.
	interpolationPattern = `\$\{`
)

// refInterpolated points at the $defs entry for an interpolated string.
var refInterpolated = newObj().set("$ref", "#/$defs/interpolated")

// fieldSchema maps one registry.Field to its JSON Schema. where names the
// field for errors about the spec itself (a programming error).
func fieldSchema(f registry.Field, where string) (*obj, error) {
	if f.Shorthand != "" && f.Type == registry.Object {
		return shorthandSchema(f, where)
	}
	s, hint, err := typeSchema(f, where)
	if err != nil {
		return nil, err
	}
	if err := describe(s, f, hint); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return s, nil
}

// typeSchema returns the schema of f's type and a hint to add to its
// description (what a value of that type looks like).
func typeSchema(f registry.Field, where string) (*obj, string, error) {
	switch f.Type {
	case registry.String:
		s := newObj().set("type", "string")
		if len(f.Enum) == 0 {
			return s, "", nil
		}
		s.set("enum", f.Enum)
		return anyOf(s, refInterpolated), "one of " + strings.Join(f.Enum, ", "), nil
	case registry.Int:
		s := newObj().set("type", "integer")
		if f.Min != nil {
			s.set("minimum", *f.Min)
		}
		return anyOf(s, refInterpolated), "a whole number" + atLeast(f.Min, ""), nil
	case registry.Float:
		s := newObj().set("type", "number")
		if f.Min != nil {
			s.set("minimum", *f.Min)
		}
		return anyOf(s, refInterpolated), "a number" + atLeast(f.Min, ""), nil
	case registry.Bool:
		return anyOf(newObj().set("type", "boolean"), refInterpolated), "", nil
	case registry.Duration:
		return durationSchema(f.Min), "a duration such as 500ms, 2s or 1m" + minDuration(f.Min), nil
	case registry.Size:
		n := newObj().set("type", "integer")
		if f.Min != nil {
			n.set("minimum", *f.Min)
		}
		text := newObj().set("type", "string").set("pattern", sizePattern)
		return anyOf(n, text, refInterpolated), "a size in bytes such as 1048576, 64KiB or 1MiB" + atLeast(f.Min, " bytes"), nil
	case registry.Expr:
		return exprSchema(), exprHint(f.Scope), nil
	case registry.List:
		if f.Elem == nil {
			return nil, "", fmt.Errorf("%s: a List field needs Elem", where)
		}
		items, err := fieldSchema(*f.Elem, where+"[]")
		if err != nil {
			return nil, "", err
		}
		return newObj().set("type", "array").set("items", items), "", nil
	case registry.Map:
		if f.Elem == nil {
			return nil, "", fmt.Errorf("%s: a Map field needs Elem", where)
		}
		values, err := fieldSchema(*f.Elem, where+".*")
		if err != nil {
			return nil, "", err
		}
		return newObj().set("type", "object").set("additionalProperties", values), "", nil
	case registry.Object:
		s, err := objectSchema(f.Fields, where)
		return s, "", err
	case registry.Any:
		return newObj(), "any YAML value", nil
	}
	return nil, "", fmt.Errorf("%s: unknown field type %d", where, f.Type)
}

// objectSchema is a map with fixed keys. Like the compiler, it takes
// null (an empty `stdout:`) as an empty map when no key is required.
func objectSchema(fields []registry.Field, where string) (*obj, error) {
	props := newObj()
	var required []string
	for _, sub := range fields {
		s, err := fieldSchema(sub, where+"."+sub.Name)
		if err != nil {
			return nil, err
		}
		props.set(sub.Name, s)
		if sub.Required {
			required = append(required, sub.Name)
		}
	}
	s := newObj()
	if len(required) == 0 {
		s.set("type", []string{"object", "null"})
	} else {
		s.set("type", "object")
	}
	s.set("properties", props)
	if len(required) > 0 {
		s.set("required", required)
	}
	return s.set("additionalProperties", false), nil
}

// shorthandSchema is an object that may also be written as the scalar
// of one of its fields (timeout: 2s == timeout: {duration: 2s}).
func shorthandSchema(f registry.Field, where string) (*obj, error) {
	var short *registry.Field
	for i := range f.Fields {
		if f.Fields[i].Name == f.Shorthand {
			short = &f.Fields[i]
		}
	}
	if short == nil {
		return nil, fmt.Errorf("%s: shorthand %q is not one of its fields", where, f.Shorthand)
	}
	scalar, err := fieldSchema(*short, where+"."+short.Name)
	if err != nil {
		return nil, err
	}
	object, err := objectSchema(f.Fields, where)
	if err != nil {
		return nil, err
	}
	s := newObj().set("oneOf", []any{scalar, object})
	hint := fmt.Sprintf("a map, or its %s alone", f.Shorthand)
	if err := describe(s, f, hint); err != nil {
		return nil, fmt.Errorf("%s: %w", where, err)
	}
	return s, nil
}

// exprSchema accepts any scalar: `set: {count: 1}` and `filter: true`
// are expressions too.
func exprSchema() *obj {
	return newObj().set("type", []string{"string", "number", "boolean"})
}

func exprHint(scope expression.Scope) string {
	return "an expr-lang expression (github.com/expr-lang/expr); in scope: " + strings.Join(scope.Names(), ", ")
}

func durationSchema(min *float64) *obj {
	text := newObj().set("type", "string").set("pattern", durationPattern)
	if min != nil && *min > 0 {
		return anyOf(text, refInterpolated)
	}
	// YAML reads a bare 0 as a number; the compiler takes it as 0s.
	return anyOf(text, newObj().set("const", 0), refInterpolated)
}

func anyOf(alternatives ...*obj) *obj {
	list := make([]any, len(alternatives))
	for i, a := range alternatives {
		list[i] = a
	}
	return newObj().set("anyOf", list)
}

// describe sets the description (the field's doc, the type hint, a
// secret's advice) and the default.
func describe(s *obj, f registry.Field, hint string) error {
	parts := []string{f.Doc, hint}
	if f.Secret {
		parts = append(parts, "a secret: better given as ${VAR} or ${file:PATH}")
	}
	s.setIf("description", joinNonEmpty(parts, "; "))
	if f.Default == nil {
		return nil
	}
	d, err := jsonDefault(f.Default)
	if err != nil {
		return fmt.Errorf("default %v: %w", f.Default, err)
	}
	s.set("default", d)
	return nil
}

// jsonDefault writes a decoded default as it would be written in a file.
func jsonDefault(v any) (any, error) {
	if d, ok := v.(time.Duration); ok {
		return shortDuration(d), nil
	}
	if _, err := json.Marshal(v); err != nil {
		return nil, errors.Join(errors.New("cannot be written as JSON"), err)
	}
	return v, nil
}

// shortDuration formats d as a file would have it: 10m rather than 10m0s.
func shortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

func atLeast(min *float64, unit string) string {
	if min == nil {
		return ""
	}
	if unit == " bytes" && *min == 1 {
		unit = " byte"
	}
	return fmt.Sprintf(", at least %v%s", *min, unit)
}

func minDuration(min *float64) string {
	if min == nil || *min <= 0 {
		return ""
	}
	return ", at least " + shortDuration(time.Duration(*min*float64(time.Second)))
}

func joinNonEmpty(parts []string, sep string) string {
	var keep []string
	for _, p := range parts {
		if p != "" {
			keep = append(keep, p)
		}
	}
	return strings.Join(keep, sep)
}
