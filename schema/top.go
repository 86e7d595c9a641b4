package schema

import (
	"fmt"
	"sort"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"gopkg.in/yaml.v3"
)

// namePattern is what the dsl accepts as a flow, stage or sink name.
const namePattern = `^[a-z0-9][a-z0-9_-]*$`

// topLevel is the flow file map: the keys of dsl.TopLevelKeys, in that
// order. A key the dsl gained or lost without a change here is an error,
// so the schema cannot silently drift from the parser.
func topLevel() (*obj, error) {
	props, err := topLevelProperties()
	if err != nil {
		return nil, err
	}
	ordered := newObj()
	for _, k := range dsl.TopLevelKeys {
		s, ok := props[k]
		if !ok {
			return nil, fmt.Errorf("top-level key %q of the dsl has no schema; add it in schema/top.go", k)
		}
		ordered.set(k, s)
		delete(props, k)
	}
	if len(props) > 0 {
		extra := make([]string, 0, len(props))
		for k := range props {
			extra = append(extra, k)
		}
		sort.Strings(extra)
		return nil, fmt.Errorf("schema/top.go describes keys the dsl does not read: %v", extra)
	}
	return newObj().
		set("$schema", "https://json-schema.org/draft/2020-12/schema").
		set("title", "flowrun flow file").
		set("description", "One flow: a source, middleware, stages run in order, and a sink (or named sinks). "+
			"${VAR} and ${VAR:-default} are replaced from the environment in every string before the file is checked.").
		set("type", "object").
		set("properties", ordered).
		set("required", []string{"version", "name", "source"}).
		set("oneOf", []any{
			newObj().set("required", []string{"sink"}),
			newObj().set("required", []string{"sinks"}),
		}).
		set("additionalProperties", false), nil
}

func topLevelProperties() (map[string]*obj, error) {
	partition, err := fieldSchema(registry.Field{Type: registry.Expr, Scope: expression.MessageScope,
		Doc: "messages with the same value go to the same processor, in order"}, "partition_by")
	if err != nil {
		return nil, err
	}
	return map[string]*obj{
		"version": newObj().set("description", "the flow file format version; this flowrun reads 1").set("const", 1),
		"name": newObj().set("description", "the flow's name: the `flow` label of every metric").
			set("type", "string").set("pattern", namePattern),
		"description": newObj().set("description", "what the flow does, for people").set("type", "string"),
		"source":      ref("source").set("description", "where messages come from: exactly one connector, and an optional codec"),
		"concurrency": positiveInt("processor pool size; the number of CPUs when absent", nil),
		"max_demand": positiveInt("most messages one processor asks for at once: its demand starts at 128 (or this, when lower) and doubles up to this "+
			"while processors wait for messages the source was held back from reading; messages are handed over in chunks of half a processor's demand", compiler.DefaultMaxDemand),
		"max_message_bytes": positiveInt("larger source messages fail (and go to dead_letter)", compiler.DefaultMaxMessageBytes),
		"max_in_flight_bytes": positiveInt("most bytes of source messages (as read) the flow holds, read and not yet acked, nacked or dead-lettered: "+
			"reading waits while they reach it, and open batches flush early; a single larger message still passes, alone", compiler.DefaultMaxInFlightBytes),
		"partition_by": partition,
		"middleware": newObj().
			set("description", "wraps the handler chain of each message and each sink write; the first listed is the outermost").
			set("type", "array").set("items", ref("middleware")),
		"stages": newObj().
			set("description", "run in order on each message; each item has exactly one kind, and an optional name").
			set("type", "array").set("items", ref("stage")),
		"sink": ref("sink").set("description", "where messages go: exactly one connector, and an optional codec; use either sink or sinks"),
		"sinks": newObj().
			set("description", "named sinks, for a route stage; use either sink or sinks").
			set("type", "object").set("minProperties", 1).
			set("propertyNames", newObj().set("pattern", namePattern)).
			set("additionalProperties", ref("sink")),
		"dead_letter": newObj().
			set("description", "where a message goes when its handling finally fails, with metadata error, error_stage, flow and attempts").
			set("$ref", "#/$defs/sink"),
	}, nil
}

func ref(def string) *obj { return newObj().set("$ref", "#/$defs/"+def) }

// positiveInt is a top-level whole number: the dsl wants it unquoted and
// at least 1 (or a ${VAR} that becomes one).
func positiveInt(doc string, def any) *obj {
	s := anyOf(newObj().set("type", "integer").set("minimum", 1), refInterpolated)
	s.set("description", doc)
	if def != nil {
		s.set("default", def)
	}
	return s
}

func codecs() []string { return append([]string(nil), message.Codecs...) }

// exampleValue reads a spec's Example (a YAML item such as
// "timeout: 2s") and returns the value under its kind key.
func exampleValue(kind, example string) (any, error) {
	var item map[string]any
	if err := yaml.Unmarshal([]byte(example), &item); err != nil {
		return nil, fmt.Errorf("its Example is not valid YAML: %w", err)
	}
	v, ok := item[kind]
	if !ok {
		return nil, fmt.Errorf("its Example %q has no %q key", example, kind)
	}
	return v, nil
}
