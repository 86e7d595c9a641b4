package schema

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"testing"
	"time"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/registry"
	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// CompileSchema compiles a generated schema with a real draft 2020-12
// validator, which also checks it against the meta-schema.
func CompileSchema(t *testing.T, doc []byte) *jsonschema.Schema {
	t.Helper()
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("the schema is not JSON: %v", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("flow.schema.json", v); err != nil {
		t.Fatalf("adding the schema: %v", err)
	}
	sch, err := c.Compile("flow.schema.json")
	if err != nil {
		t.Fatalf("the schema does not compile: %v", err)
	}
	return sch
}

// ValidateYAML checks a YAML document against sch the way an editor
// does: YAML read as JSON values first.
func ValidateYAML(sch *jsonschema.Schema, src []byte) error {
	var doc any
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return fmt.Errorf("invalid YAML: %w", err)
	}
	js, err := json.Marshal(doc)
	if err != nil {
		return fmt.Errorf("YAML that JSON cannot hold: %w", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(js))
	if err != nil {
		return err
	}
	return sch.Validate(v)
}

// fakeSpecs cover every field type, a source-only and a sink-only
// connector, and a shorthand; they are never registered, so they do not
// mix with the real specs of the same test binary.
func fakeSpecs() Specs {
	noSource := func(context.Context, registry.Config, registry.Env) (registry.Source, error) { return nil, nil }
	noSink := func(context.Context, registry.Config, registry.Env) (registry.Sink, error) { return nil, nil }
	queue := []registry.Field{
		{Name: "topic", Type: registry.String, Required: true, Doc: "the topic"},
		{Name: "batch", Type: registry.Int, Default: 10, Min: registry.F(1), Doc: "messages per fetch"},
		{Name: "ratio", Type: registry.Float, Doc: "a ratio"},
		{Name: "durable", Type: registry.Bool, Default: true},
		{Name: "wait", Type: registry.Duration, Default: 90 * time.Second, Min: registry.F(0.001), Doc: "how long to wait"},
		{Name: "linger", Type: registry.Duration, Doc: "may be 0"},
		{Name: "max_bytes", Type: registry.Size, Default: 1 << 20, Min: registry.F(1)},
		{Name: "mode", Type: registry.String, Enum: []string{"fast", "safe"}, Default: "safe"},
		{Name: "select", Type: registry.Expr, Scope: expression.MessageScope, Doc: "which messages"},
		{Name: "brokers", Type: registry.List, Elem: &registry.Field{Type: registry.String}},
		{Name: "headers", Type: registry.Map, Elem: &registry.Field{Type: registry.String}},
		{Name: "tls", Type: registry.Object, Fields: []registry.Field{
			{Name: "ca", Type: registry.String, Required: true},
			{Name: "verify", Type: registry.Bool, Default: true},
		}},
		{Name: "extra", Type: registry.Any},
		{Name: "password", Type: registry.String, Secret: true},
	}
	return Specs{
		Connectors: []*registry.ConnectorSpec{
			{Name: "gen", Summary: "generates", Source: noSource, SourceFields: []registry.Field{
				{Name: "payload", Type: registry.Expr, Scope: expression.GenerateScope, Required: true}}},
			{Name: "queue", Summary: "a queue", Source: noSource, Sink: noSink, SourceFields: queue, SinkFields: queue[:1]},
			{Name: "void", Summary: "discards", Sink: noSink},
		},
		Stages: []*registry.StageSpec{
			{Name: "check", Summary: "keeps when true", Example: "check: payload.ok",
				Value: registry.Field{Type: registry.Expr, Scope: expression.MessageScope, Doc: "a boolean expression"}},
			{Name: "group", Summary: "batches", Example: "group: {size: 5, reduce: len(batch)}",
				Value: registry.Field{Type: registry.Object, Fields: []registry.Field{
					{Name: "size", Type: registry.Int, Default: 100, Min: registry.F(1)},
					{Name: "reduce", Type: registry.Expr, Scope: expression.ReduceScope},
				}}},
			{Name: "pick", Summary: "routes", Value: registry.Field{Type: registry.List, Elem: &registry.Field{
				Type: registry.Object, Fields: []registry.Field{
					{Name: "when", Type: registry.Expr, Scope: expression.MessageScope},
					{Name: "to", Type: registry.String},
				}}}},
			{Name: "tag", Summary: "sets tags", Value: registry.Field{Type: registry.Map,
				Elem: &registry.Field{Type: registry.Expr, Scope: expression.MessageScope}}},
		},
		Middlewares: []*registry.MiddlewareSpec{
			{Name: "deadline", Summary: "bounds each attempt", Example: "deadline: 2s",
				Value: registry.Field{Type: registry.Object, Shorthand: "duration", Fields: []registry.Field{
					{Name: "duration", Type: registry.Duration, Required: true, Doc: "the deadline"},
				}}},
			{Name: "limit", Summary: "limits the rate", Example: "limit: {per_second: 0.5}",
				Value: registry.Field{Type: registry.Object, Fields: []registry.Field{
					{Name: "per_second", Type: registry.Float, Required: true},
				}}},
		},
	}
}

// generateFake generates the schema of fakeSpecs.
func generateFake(t *testing.T) []byte {
	t.Helper()
	b, err := GenerateFrom(fakeSpecs())
	if err != nil {
		t.Fatalf("GenerateFrom: %v", err)
	}
	return b
}

// pointer returns the value at a path of keys inside a JSON document.
func pointer(t *testing.T, doc []byte, keys ...string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		t.Fatalf("not JSON: %v", err)
	}
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("no %q in %v: not an object", k, keys)
		}
		if v, ok = m[k]; !ok {
			t.Fatalf("no %q in %v", k, keys)
		}
	}
	return v
}
