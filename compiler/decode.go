package compiler

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/registry"
)

// decode checks n against f and returns its Go value (see registry.Type).
// Every problem is added to c.ds; ok is false when any was found.
func (c *compiler) decode(n *dsl.Node, f registry.Field) (v any, ok bool) {
	before := len(c.ds)
	v = c.decodeValue(n, f)
	return v, len(c.ds) == before
}

func (c *compiler) decodeValue(n *dsl.Node, f registry.Field) any {
	if f.Shorthand != "" && f.Type == registry.Object && n.Kind == dsl.Scalar {
		for _, sub := range f.Fields {
			if sub.Name == f.Shorthand {
				// As if written {shorthand: n}, so required and defaults still apply.
				return c.decodeObject(&dsl.Node{Kind: dsl.Map, Pos: n.Pos, Path: n.Path,
					Fields: []dsl.Field{{Key: sub.Name, KeyAt: n.Pos, Value: n}}}, f)
			}
		}
	}
	switch f.Type {
	case registry.Object:
		if n.Kind == dsl.Null {
			return c.decodeObject(&dsl.Node{Kind: dsl.Map, Pos: n.Pos, Path: n.Path}, f)
		}
		if n.Kind != dsl.Map {
			c.errorf(n, "expected a map%s, got %s", fieldList(f), n.Describe())
			return nil
		}
		return c.decodeObject(n, f)
	case registry.List:
		if n.Kind != dsl.List {
			c.errorf(n, "expected a list, got %s", n.Describe())
			return nil
		}
		out := make([]any, 0, len(n.Items))
		for _, item := range n.Items {
			out = append(out, c.decodeValue(item, *f.Elem))
		}
		return out
	case registry.Map:
		if n.Kind != dsl.Map {
			c.errorf(n, "expected a map of name: value, got %s", n.Describe())
			return nil
		}
		out := make([]registry.Entry, 0, len(n.Fields))
		for _, fd := range n.Fields {
			out = append(out, registry.Entry{Key: fd.Key, Value: c.decodeValue(fd.Value, *f.Elem)})
		}
		return out
	case registry.Any:
		return plain(n)
	}
	if n.Kind != dsl.Scalar {
		c.errorf(n, "expected %s, got %s", typeName(f), n.Describe())
		return nil
	}
	return c.decodeScalar(n, f)
}

func (c *compiler) decodeScalar(n *dsl.Node, f registry.Field) any {
	s := n.Value
	switch f.Type {
	case registry.String:
		if len(f.Enum) > 0 && !slices.Contains(f.Enum, s) {
			c.errorf(n, "%q is not one of %s%s", s, strings.Join(f.Enum, ", "), diag.DidYouMean(s, f.Enum))
			return nil
		}
		return s
	case registry.Int:
		i, err := strconv.Atoi(s)
		if err != nil {
			c.errorf(n, "expected a whole number, got %q", s)
			return nil
		}
		if f.Min != nil && float64(i) < *f.Min {
			c.errorf(n, "must be at least %v, got %d", *f.Min, i)
			return nil
		}
		return i
	case registry.Float:
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) || math.IsInf(x, 0) { // ParseFloat takes "nan" and "inf"
			c.errorf(n, "expected a number, got %q", s)
			return nil
		}
		if f.Min != nil && x < *f.Min {
			c.errorf(n, "must be at least %v, got %v", *f.Min, x)
			return nil
		}
		return x
	case registry.Bool:
		switch s {
		case "true":
			return true
		case "false":
			return false
		}
		c.errorf(n, "expected true or false, got %q", s)
		return nil
	case registry.Duration:
		d, err := time.ParseDuration(s)
		if s == "0" {
			d, err = 0, nil
		}
		if err != nil || d < 0 {
			c.errorf(n, "expected a duration such as 500ms, 2s or 1m, got %q", s)
			return nil
		}
		if f.Min != nil && d.Seconds() < *f.Min {
			c.errorf(n, "must be at least %v, got %s", time.Duration(*f.Min*float64(time.Second)), d)
			return nil
		}
		return d
	case registry.Size:
		size, err := ParseSize(s)
		if err != nil {
			c.errorf(n, "%v", err)
			return nil
		}
		if f.Min != nil && float64(size) < *f.Min {
			c.errorf(n, "must be at least %v bytes, got %d", *f.Min, size)
			return nil
		}
		return size
	case registry.Expr:
		if p := c.expr(n, f.Scope); p != nil {
			return p
		}
		return nil
	}
	c.errorf(n, "unsupported field type %v", f.Type)
	return nil
}

// decodeObject checks keys (unknown ones with a suggestion), required
// fields, decodes each field and applies defaults.
func (c *compiler) decodeObject(n *dsl.Node, f registry.Field) registry.Config {
	cfg := registry.Config{}
	names := make([]string, len(f.Fields))
	for i, sub := range f.Fields {
		names[i] = sub.Name
	}
	for _, fd := range n.Fields {
		if !slices.Contains(names, fd.Key) {
			c.ds.Add(diag.Diagnostic{Pos: fd.KeyAt, Path: fd.Value.Path,
				Message: fmt.Sprintf("unknown key %q%s%s", fd.Key, diag.DidYouMean(fd.Key, names), knownKeys(names))})
		}
	}
	for _, sub := range f.Fields {
		v := n.Get(sub.Name)
		switch {
		case v == nil || v.Kind == dsl.Null && sub.Type != registry.Object:
			if sub.Required {
				c.errorf(n, "%s is required: %s", sub.Name, sub.Doc)
			} else if sub.Default != nil {
				cfg[sub.Name] = sub.Default
			}
		default:
			if val := c.decodeValue(v, sub); val != nil {
				cfg[sub.Name] = val
			}
		}
	}
	return cfg
}

var sizeRE = regexp.MustCompile(`^\s*([0-9]+)\s*([KMG]i?B|B)?\s*$`)

// ParseSize reads a byte size: 1048576, 64KiB, 1MB, 1 GiB.
func ParseSize(s string) (int, error) {
	m := sizeRE.FindStringSubmatch(s)
	if m == nil {
		return 0, fmt.Errorf("expected a size such as 1048576, 64KiB or 1MiB, got %q", s)
	}
	n, err := strconv.Atoi(m[1])
	if err != nil {
		return 0, fmt.Errorf("size %q: %w", s, err)
	}
	mult := map[string]int{"": 1, "B": 1, "KB": 1000, "KiB": 1 << 10, "MB": 1e6, "MiB": 1 << 20, "GB": 1e9, "GiB": 1 << 30}[m[2]]
	if n > math.MaxInt/mult {
		return 0, fmt.Errorf("size %q is too large", s)
	}
	return n * mult, nil
}

// plain converts a node to plain Go values (for Any fields).
func plain(n *dsl.Node) any {
	switch n.Kind {
	case dsl.Map:
		out := make(map[string]any, len(n.Fields))
		for _, f := range n.Fields {
			out[f.Key] = plain(f.Value)
		}
		return out
	case dsl.List:
		out := make([]any, len(n.Items))
		for i, it := range n.Items {
			out[i] = plain(it)
		}
		return out
	case dsl.Scalar:
		if !n.Quoted {
			switch n.Tag {
			case "!!int":
				if i, err := strconv.Atoi(n.Value); err == nil {
					return i
				}
			case "!!float":
				if x, err := strconv.ParseFloat(n.Value, 64); err == nil {
					return x
				}
			case "!!bool":
				return n.Value == "true"
			}
		}
		return n.Value
	}
	return nil
}

func typeName(f registry.Field) string {
	switch f.Type {
	case registry.Int:
		return "a whole number"
	case registry.Float:
		return "a number"
	case registry.Bool:
		return "true or false"
	case registry.Duration:
		return "a duration such as 2s"
	case registry.Size:
		return "a size such as 1MiB"
	case registry.Expr:
		return "an expression"
	}
	return "a string"
}

func fieldList(f registry.Field) string {
	if len(f.Fields) == 0 {
		return ""
	}
	names := make([]string, len(f.Fields))
	for i, s := range f.Fields {
		names[i] = s.Name
	}
	return " with " + strings.Join(names, ", ")
}

func knownKeys(names []string) string {
	if len(names) == 0 {
		return "; this takes no settings"
	}
	return " (known: " + strings.Join(names, ", ") + ")"
}
