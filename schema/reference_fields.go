package schema

import (
	"fmt"
	"strings"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/registry"
)

// kindSections writes one section per stage or middleware kind: its
// summary, example, and the shape of its value with every field.
func kindSections(kinds []specKind) (string, error) {
	var b strings.Builder
	for _, k := range kinds {
		fmt.Fprintf(&b, "\n### `%s`\n\n%s\n", k.name, sentence(k.summary))
		if k.example != "" {
			fmt.Fprintf(&b, "\n```yaml\n%s\n```\n", indentItem(k.example))
		}
		value, err := valueText(k.value, k.name)
		if err != nil {
			return "", err
		}
		b.WriteString("\n" + value)
	}
	return b.String(), nil
}

// indentItem writes an Example (a stage item) as it sits in a list.
func indentItem(example string) string {
	lines := strings.Split(strings.TrimRight(example, "\n"), "\n")
	for i := range lines {
		if i == 0 {
			lines[i] = "- " + lines[i]
		} else {
			lines[i] = "  " + lines[i]
		}
	}
	return strings.Join(lines, "\n")
}

// valueText describes a kind's value: one line, and a table of fields
// when it has any.
func valueText(v registry.Field, where string) (string, error) {
	rows, err := fieldRows(v, "")
	if err != nil {
		return "", fmt.Errorf("%s: %w", where, err)
	}
	var what string
	switch {
	case v.Type == registry.Object && v.Shorthand != "":
		what = "a map with the fields below, or its `" + v.Shorthand + "` alone"
	case v.Type == registry.Object:
		what = "a map with the fields below"
	case v.Type == registry.List && v.Elem != nil && v.Elem.Type == registry.Object:
		what = "a list of maps with the fields below"
	default:
		what = withArticle(typeText(v))
	}
	line := "Value: " + what + "."
	if v.Doc != "" {
		line = "Value (" + what + "): " + strings.TrimSuffix(v.Doc, ".") + "."
	}
	if len(rows) == 0 {
		return line + "\n", nil
	}
	return line + "\n\n" + fieldTable(rows), nil
}

// withArticle puts "a" or "an" before a type's description.
func withArticle(t string) string {
	if strings.HasPrefix(t, "one of") {
		return t
	}
	if strings.ContainsAny(strings.TrimPrefix(t, "[")[:1], "aeiou") {
		return "an " + t
	}
	return "a " + t
}

// connectorSections writes one section per connector with the fields of
// its source and its sink side.
func connectorSections(conns []*registry.ConnectorSpec) (string, error) {
	var b strings.Builder
	for _, c := range conns {
		fmt.Fprintf(&b, "\n### `%s`\n\n%s\n", c.Name, sentence(c.Summary))
		for _, side := range []struct {
			on     bool
			title  string
			fields []registry.Field
		}{
			{c.Source != nil, "As a source", c.SourceFields},
			{c.Sink != nil, "As a sink or dead letter", c.SinkFields},
		} {
			if !side.on {
				continue
			}
			if len(side.fields) == 0 {
				fmt.Fprintf(&b, "\n%s: no settings (`%s: {}`).\n", side.title, c.Name)
				continue
			}
			rows, err := fieldRows(registry.Field{Type: registry.Object, Fields: side.fields}, "")
			if err != nil {
				return "", fmt.Errorf("connector %s: %w", c.Name, err)
			}
			fmt.Fprintf(&b, "\n%s:\n\n%s", side.title, fieldTable(rows))
		}
	}
	return b.String(), nil
}

// row is one field of a table; nested fields get dotted names.
type row struct {
	name string
	f    registry.Field
}

// fieldRows lists the named fields inside f, depth first: an object's
// fields, the fields of each item of a list of objects (name[].field) and
// of each value of a map of objects (name.NAME.field).
func fieldRows(f registry.Field, prefix string) ([]row, error) {
	switch f.Type {
	case registry.Object:
		var rows []row
		for _, sub := range f.Fields {
			if sub.Name == "" {
				return nil, fmt.Errorf("a field of %q has no name", prefix)
			}
			name := sub.Name
			if prefix != "" {
				name = prefix + "." + sub.Name
			}
			rows = append(rows, row{name, sub})
			nested, err := fieldRows(sub, name)
			if err != nil {
				return nil, err
			}
			rows = append(rows, nested...)
		}
		return rows, nil
	case registry.List, registry.Map:
		if f.Elem == nil {
			return nil, fmt.Errorf("%q: a List or Map field needs Elem", prefix)
		}
		if f.Elem.Type != registry.Object {
			return nil, nil
		}
		p := prefix + "[]"
		if f.Type == registry.Map {
			p = prefix + ".NAME"
		}
		rows, err := fieldRows(*f.Elem, p)
		if err != nil {
			return nil, err
		}
		if prefix == "" { // the kind's own value: its items' fields need no prefix
			for i := range rows {
				rows[i].name = strings.TrimPrefix(strings.TrimPrefix(rows[i].name, "[]."), ".NAME.")
			}
		}
		return rows, nil
	}
	return nil, nil
}

func fieldTable(rows []row) string {
	var b strings.Builder
	b.WriteString("| field | type | default | meaning |\n| --- | --- | --- | --- |\n")
	for _, r := range rows {
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", r.name, cell(typeText(r.f)), defaultText(r.f), cell(meaning(r.f)))
	}
	return b.String()
}

func defaultText(f registry.Field) string {
	if f.Required {
		return "required"
	}
	if f.Default == nil {
		return ""
	}
	d, err := jsonDefault(f.Default)
	if err != nil {
		return cell(fmt.Sprint(f.Default))
	}
	if s, ok := d.(string); ok {
		if s == "" {
			return "`\"\"`"
		}
		return cell(code(s))
	}
	b, err := marshal(d)
	if err != nil {
		return cell(fmt.Sprint(f.Default))
	}
	return cell(code(string(b)))
}

func meaning(f registry.Field) string {
	if f.Secret {
		return joinNonEmpty([]string{f.Doc, "a secret: never printed, better given as `${VAR}` or `${file:PATH}`"}, "; ")
	}
	return f.Doc
}

// typeText says what a value of f's type looks like, with its limits.
func typeText(f registry.Field) string {
	switch f.Type {
	case registry.String:
		if len(f.Enum) > 0 {
			return "one of `" + strings.Join(f.Enum, "`, `") + "`"
		}
		return "string"
	case registry.Int:
		return "whole number" + atLeast(f.Min, "")
	case registry.Float:
		return "number" + atLeast(f.Min, "")
	case registry.Bool:
		return "boolean"
	case registry.Duration:
		return "[duration](#values)" + minDuration(f.Min)
	case registry.Size:
		return "[size](#values)" + atLeast(f.Min, " bytes")
	case registry.Expr:
		if f.Scope == expression.MessageScope {
			return "[expression](#expressions)"
		}
		return "[expression](#expressions) with `" + strings.Join(f.Scope.Names(), "`, `") + "` in scope"
	case registry.List:
		if f.Elem == nil {
			return "list"
		}
		if f.Elem.Type == registry.Object {
			return "list of maps (fields below)"
		}
		return "list of " + plural(typeText(*f.Elem))
	case registry.Map:
		if f.Elem == nil {
			return "map"
		}
		if f.Elem.Type == registry.Object {
			return "map of name to map (fields below)"
		}
		return "map of name to " + typeText(*f.Elem)
	case registry.Object:
		if f.Shorthand != "" {
			return "map (fields below), or its `" + f.Shorthand + "` alone"
		}
		return "map (fields below)"
	}
	return "any YAML value"
}

func plural(t string) string {
	switch t {
	case "string", "boolean", "whole number", "number":
		return t + "s"
	}
	return t
}

// sentence capitalizes s and ends it with a full stop.
func sentence(s string) string {
	s = strings.TrimSpace(s)
	if s == "" {
		return s
	}
	if !strings.HasSuffix(s, ".") && !strings.HasSuffix(s, "?") {
		s += "."
	}
	if s[0] >= 'a' && s[0] <= 'z' {
		s = strings.ToUpper(s[:1]) + s[1:]
	}
	return s
}
