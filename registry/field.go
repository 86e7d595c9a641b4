package registry

import (
	"time"

	"github.com/flowrun/flowrun/expression"
)

// Type is the type of a spec field.
type Type int

const (
	String   Type = iota
	Int           // whole number
	Float         // number
	Bool          // true/false
	Duration      // Go duration string: 100ms, 5s, 1m
	Size          // bytes: 1048576, "64KiB", "1MB"
	Expr          // an expression, compiled in Field.Scope: decodes to *expression.Program
	List          // of Elem: decodes to []any
	Map           // string -> Elem, in file order: decodes to []Entry
	Object        // fixed Fields: decodes to Config
	Any           // any YAML value: decodes to any (maps as map[string]any)
)

// Field describes one setting: its type, whether it is required, its
// default and its documentation. Fields drive validation, decoding and
// the JSON Schema.
type Field struct {
	Name     string
	Type     Type
	Doc      string
	Required bool
	Default  any      // decoded default (e.g. time.Duration, int, string)
	Enum     []string // for String: allowed values
	Min      *float64 // for Int, Float, Duration (seconds), Size
	Scope    expression.Scope
	Elem     *Field  // for List and Map
	Fields   []Field // for Object
	// Shorthand lets an Object also be written as a scalar, decoded into
	// the named field (timeout: 2s == timeout: {duration: 2s}).
	Shorthand string
	Secret    bool // never printed
	// Target marks the field that names where a connector reads or
	// writes (path, topic, url, queue): `flowrun graph` shows it.
	Target bool
	// Warning, for a Bool, is what validate and run warn when it is true
	// (tls.insecure_skip_verify: allowed, never silently).
	Warning string
}

// Entry is one key of a decoded Map, in file order.
type Entry struct {
	Key   string
	Value any
}

// Config is a decoded Object: field name -> value, defaults applied.
type Config map[string]any

// String returns a string field ("" when unset).
func (c Config) String(name string) string { s, _ := c[name].(string); return s }

// Int returns an int field.
func (c Config) Int(name string) int { i, _ := c[name].(int); return i }

// Float returns a float field.
func (c Config) Float(name string) float64 {
	switch v := c[name].(type) {
	case float64:
		return v
	case int:
		return float64(v)
	}
	return 0
}

// Bool returns a bool field.
func (c Config) Bool(name string) bool { b, _ := c[name].(bool); return b }

// Duration returns a duration field.
func (c Config) Duration(name string) time.Duration { d, _ := c[name].(time.Duration); return d }

// Expr returns an expression field, or nil when unset.
func (c Config) Expr(name string) *expression.Program {
	p, _ := c[name].(*expression.Program)
	return p
}

// Strings returns a list-of-strings field.
func (c Config) Strings(name string) []string {
	items, _ := c[name].([]any)
	out := make([]string, 0, len(items))
	for _, it := range items {
		if s, ok := it.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// Object returns a nested object field (nil when unset).
func (c Config) Object(name string) Config { o, _ := c[name].(Config); return o }

// List returns a list field.
func (c Config) List(name string) []any { l, _ := c[name].([]any); return l }

// Entries returns a map field.
func (c Config) Entries(name string) []Entry { e, _ := c[name].([]Entry); return e }

// Has reports whether the field was given or defaulted.
func (c Config) Has(name string) bool { _, ok := c[name]; return ok }

// F returns a pointer to f, for Field.Min.
func F(f float64) *float64 { return &f }
