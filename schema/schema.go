// Package schema generates the JSON Schema (draft 2020-12) of flow files
// from the registry, so editors validate and complete them. With the
// VS Code YAML extension, a flow file's first line points at it:
//
//	# yaml-language-server: $schema=../../schema/flow.schema.json
//
// (a path relative to the flow file, or the output of `flowrun schema`
// saved anywhere).
//
// The top level follows the dsl (dsl.TopLevelKeys); connectors, stage
// kinds and middleware come from their specs, one $defs entry each.
//
// The schema accepts what the compiler accepts, with these choices:
//   - every typed scalar (integer, number, boolean, duration, size,
//     enum) may also be a string holding ${VAR}: interpolation happens
//     before the file is checked, so its value is unknown here;
//   - expressions may be any scalar (`set: {count: 1}`);
//   - a plain string field must be a YAML string (quote `"123"`), and
//     an optional field may not be null; the compiler is laxer there;
//   - limits an expression or a name lookup decides (unknown names in
//     an expression, a route to a missing sink) are left to
//     `flowrun validate`.
//
// The committed flow.schema.json, and docs/reference.md (the user's
// reference, from the same specs: reference.go), are regenerated with
// `go generate ./schema` (or `make schema`); tests fail when either is
// out of date.
package schema

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/flowrun/flowrun/registry"
)

//go:generate go run ./gen

//go:embed flow.schema.json
var embedded []byte

// Embedded returns the committed flow.schema.json, the schema of the
// connectors, stages and middleware built into flowrun.
func Embedded() []byte { return bytes.Clone(embedded) }

// Specs is what a schema is generated from.
type Specs struct {
	Stages      []*registry.StageSpec
	Connectors  []*registry.ConnectorSpec
	Middlewares []*registry.MiddlewareSpec
}

// Registered returns every spec registered so far.
func Registered() Specs {
	return Specs{Stages: registry.Stages(), Connectors: registry.Connectors(), Middlewares: registry.Middlewares()}
}

// Generate returns the schema of the registered specs as indented JSON.
// The same registry gives the same bytes.
func Generate() ([]byte, error) { return GenerateFrom(Registered()) }

// GenerateFrom returns the schema of the given specs as indented JSON.
func GenerateFrom(specs Specs) ([]byte, error) {
	defs, err := definitions(specs)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	root, err := topLevel()
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	root.set("$defs", defs)
	compact, err := marshal(root)
	if err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	var out bytes.Buffer
	if err := json.Indent(&out, compact, "", "  "); err != nil {
		return nil, fmt.Errorf("schema: %w", err)
	}
	out.WriteByte('\n')
	return out.Bytes(), nil
}

// definitions builds $defs: the shared pieces, then one entry per
// connector role, stage kind and middleware kind, each sorted by name.
func definitions(specs Specs) (*obj, error) {
	defs := newObj()
	defs.set("interpolated", newObj().
		set("description", "a string with ${VAR} or ${VAR:-default}, replaced from the environment before the file is checked").
		set("type", "string").set("pattern", interpolationPattern))
	defs.set("codec", newObj().
		set("description", "how payloads are decoded (source; json when not given) or encoded (sink; the source's codec when not given): "+
			"json, text (a string payload is written as it is) or bytes (the same for bytes); other payloads are written as JSON").
		set("type", "string").set("enum", codecs()))

	var sources, sinks []kind
	for _, c := range specs.Connectors {
		if c.Source != nil {
			s, err := objectSchema(c.SourceFields, "source "+c.Name)
			if err != nil {
				return nil, err
			}
			sources = append(sources, kind{c.Name, "source." + c.Name, s.set("description", c.Summary)})
		}
		if c.Sink != nil {
			s, err := objectSchema(c.SinkFields, "sink "+c.Name)
			if err != nil {
				return nil, err
			}
			sinks = append(sinks, kind{c.Name, "sink." + c.Name, s.set("description", c.Summary)})
		}
	}
	defs.set("source", connectorSchema(sources, "where messages come from: exactly one connector, and an optional codec"))
	defs.set("sink", connectorSchema(sinks, "where messages go: exactly one connector, and an optional codec"))

	var stages, middlewares []kind
	for _, st := range specs.Stages {
		s, err := valueSchema(st.Name, st.Summary, st.Example, st.Value, "stage "+st.Name)
		if err != nil {
			return nil, err
		}
		stages = append(stages, kind{st.Name, "stage." + st.Name, s})
	}
	for _, m := range specs.Middlewares {
		s, err := valueSchema(m.Name, m.Summary, m.Example, m.Value, "middleware "+m.Name)
		if err != nil {
			return nil, err
		}
		middlewares = append(middlewares, kind{m.Name, "middleware." + m.Name, s})
	}
	name := newObj().set("description", "the stage's name in metrics, logs and errors; kind_index when absent").
		set("type", "string").set("pattern", namePattern)
	defs.set("stage", oneKind(stages, "a stage: exactly one kind, and an optional name", newObj().set("name", name)))
	defs.set("middleware", oneKind(middlewares, "a middleware: exactly one kind", newObj()))

	for _, group := range [][]kind{sources, sinks, stages, middlewares} {
		for _, k := range group {
			defs.set(k.def, k.schema)
		}
	}
	return defs, nil
}

// kind is one choice of a "one key says what it is" map.
type kind struct {
	name   string // the key in the file
	def    string // its $defs entry
	schema *obj
}

func connectorSchema(kinds []kind, doc string) *obj {
	return oneKind(kinds, doc, newObj().set("codec", newObj().set("$ref", "#/$defs/codec")))
}

// oneKind is a map with exactly one of the kinds' keys, besides the
// fixed keys in common.
func oneKind(kinds []kind, doc string, common *obj) *obj {
	s := newObj().set("description", doc+kindList(kinds)).set("type", "object")
	choices := make([]any, len(kinds))
	for i, k := range kinds {
		common.set(k.name, newObj().set("$ref", "#/$defs/"+k.def))
		choices[i] = newObj().set("required", []string{k.name})
	}
	s.set("properties", common).set("additionalProperties", false)
	if len(kinds) == 0 {
		return s.set("not", newObj()) // nothing registered: nothing fits
	}
	return s.set("oneOf", choices)
}

func kindList(kinds []kind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = k.name
	}
	return " (" + strings.Join(names, ", ") + ")"
}

// valueSchema is the schema of a stage's or middleware's value, with
// the spec's summary and example.
func valueSchema(name, summary, example string, value registry.Field, where string) (*obj, error) {
	s, err := fieldSchema(value, where)
	if err != nil {
		return nil, err
	}
	doc := summary
	if d, ok := s.vals["description"].(string); ok {
		if summary != "" && !strings.HasSuffix(summary, ".") {
			summary += "."
		}
		doc = joinNonEmpty([]string{summary, "Value: " + d}, " ")
	}
	s.setIf("description", doc)
	if example != "" {
		v, err := exampleValue(name, example)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		s.set("examples", []any{v})
	}
	return s, nil
}
