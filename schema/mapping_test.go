package schema

import (
	"bytes"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/registry"
)

// Each field type maps to the schema written out here in full.
func TestFieldTypesMapToSchemas(t *testing.T) {
	doc := generateFake(t)
	interp := `{"$ref": "#/$defs/interpolated"}`
	dur := `{"type": "string", "pattern": "` + strings.ReplaceAll(durationPattern, `\`, `\\`) + `"}`
	cases := map[string]string{
		"topic": `{"type": "string", "description": "the topic"}`,
		"batch": `{"anyOf": [{"type": "integer", "minimum": 1}, ` + interp + `],
			"description": "messages per fetch; a whole number, at least 1", "default": 10}`,
		"ratio":   `{"anyOf": [{"type": "number"}, ` + interp + `], "description": "a ratio; a number"}`,
		"durable": `{"anyOf": [{"type": "boolean"}, ` + interp + `], "default": true}`,
		"wait": `{"anyOf": [` + dur + `, ` + interp + `],
			"description": "how long to wait; a duration such as 500ms, 2s or 1m, at least 1ms", "default": "1m30s"}`,
		"linger": `{"anyOf": [` + dur + `, {"const": 0}, ` + interp + `],
			"description": "may be 0; a duration such as 500ms, 2s or 1m"}`,
		"max_bytes": `{"anyOf": [{"type": "integer", "minimum": 1}, {"type": "string", "pattern": "^\\s*[0-9]+\\s*([KMG]i?B|B)?\\s*$"}, ` + interp + `],
			"description": "a size in bytes such as 1048576, 64KiB or 1MiB, at least 1 byte", "default": 1048576}`,
		"mode": `{"anyOf": [{"type": "string", "enum": ["fast", "safe"]}, ` + interp + `],
			"description": "one of fast, safe", "default": "safe"}`,
		"select": `{"type": ["string", "number", "boolean"],
			"description": "which messages; an expr-lang expression (github.com/expr-lang/expr); in scope: payload, meta, key, topic, id"}`,
		"brokers": `{"type": "array", "items": {"type": "string"}}`,
		"headers": `{"type": "object", "additionalProperties": {"type": "string"}}`,
		"tls": `{"type": "object", "properties": {
			"ca": {"type": "string"},
			"verify": {"anyOf": [{"type": "boolean"}, ` + interp + `], "default": true}},
			"required": ["ca"], "additionalProperties": false}`,
		"extra":    `{"description": "any YAML value"}`,
		"password": `{"type": "string", "description": "a secret: better given as ${VAR} or ${file:PATH}"}`,
	}
	for name, want := range cases {
		got := pointer(t, doc, "$defs", "source.queue", "properties", name)
		assertJSON(t, name, got, want)
	}
}

func TestConnectorsStagesAndMiddlewareMapToDefs(t *testing.T) {
	doc := generateFake(t)
	// A source lists only source connectors, a sink only sink ones, and
	// each role has its own fields.
	assertJSON(t, "source", pointer(t, doc, "$defs", "source"), `{
		"description": "where messages come from: exactly one connector, and an optional codec (gen, queue)",
		"type": "object",
		"properties": {"codec": {"$ref": "#/$defs/codec"},
			"gen": {"$ref": "#/$defs/source.gen"}, "queue": {"$ref": "#/$defs/source.queue"}},
		"additionalProperties": false,
		"oneOf": [{"required": ["gen"]}, {"required": ["queue"]}]}`)
	assertJSON(t, "sink.queue", pointer(t, doc, "$defs", "sink.queue"), `{
		"type": "object", "properties": {"topic": {"type": "string", "description": "the topic"}},
		"required": ["topic"], "additionalProperties": false, "description": "a queue"}`)
	// No settings: only {} or an empty value (null).
	assertJSON(t, "sink.void", pointer(t, doc, "$defs", "sink.void"), `{
		"type": ["object", "null"], "properties": {}, "additionalProperties": false, "description": "discards"}`)
	assertJSON(t, "stage.check", pointer(t, doc, "$defs", "stage.check"), `{
		"type": ["string", "number", "boolean"],
		"description": "keeps when true. Value: a boolean expression; an expr-lang expression (github.com/expr-lang/expr); in scope: payload, meta, key, topic, id",
		"examples": ["payload.ok"]}`)
	assertJSON(t, "reduce", pointer(t, doc, "$defs", "stage.group", "properties", "reduce"), `{
		"type": ["string", "number", "boolean"],
		"description": "an expr-lang expression (github.com/expr-lang/expr); in scope: batch, batch_key"}`)
	assertJSON(t, "stage.tag", pointer(t, doc, "$defs", "stage.tag"), `{
		"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"],
			"description": "an expr-lang expression (github.com/expr-lang/expr); in scope: payload, meta, key, topic, id"},
		"description": "sets tags"}`)
	assertJSON(t, "middleware.deadline", pointer(t, doc, "$defs", "middleware.deadline"), `{
		"oneOf": [
			{"anyOf": [{"type": "string", "pattern": "`+strings.ReplaceAll(durationPattern, `\`, `\\`)+`"}, {"const": 0}, {"$ref": "#/$defs/interpolated"}],
			 "description": "the deadline; a duration such as 500ms, 2s or 1m"},
			{"type": "object", "properties": {"duration": {"anyOf": [{"type": "string", "pattern": "`+strings.ReplaceAll(durationPattern, `\`, `\\`)+`"}, {"const": 0}, {"$ref": "#/$defs/interpolated"}],
			 "description": "the deadline; a duration such as 500ms, 2s or 1m"}},
			 "required": ["duration"], "additionalProperties": false}],
		"description": "bounds each attempt. Value: a map, or its duration alone",
		"examples": ["2s"]}`)
	assertJSON(t, "stage item", pointer(t, doc, "$defs", "stage", "oneOf"),
		`[{"required": ["check"]}, {"required": ["group"]}, {"required": ["pick"]}, {"required": ["tag"]}]`)
}

// The top level has the dsl's keys, in the dsl's order.
func TestTopLevelFollowsTheDSL(t *testing.T) {
	doc := generateFake(t)
	props := pointer(t, doc, "properties").(map[string]any)
	if len(props) != len(dsl.TopLevelKeys) {
		t.Fatalf("top-level properties %v, want exactly %v", keys(props), dsl.TopLevelKeys)
	}
	last := -1
	for _, k := range dsl.TopLevelKeys {
		i := bytes.Index(doc, []byte("\n    \""+k+"\": {"))
		if i < 0 || i < last {
			t.Fatalf("top-level key %q missing or out of the dsl's order", k)
		}
		last = i
	}
	assertJSON(t, "required", pointer(t, doc, "required"), `["version", "name", "source"]`)
	assertJSON(t, "version", pointer(t, doc, "properties", "version", "const"), `1`)
}

func TestGenerateIsDeterministic(t *testing.T) {
	first := generateFake(t)
	for range 5 {
		if again := generateFake(t); !bytes.Equal(first, again) {
			t.Fatal("two runs on the same specs gave different bytes")
		}
	}
	if !bytes.HasSuffix(first, []byte("}\n")) || !bytes.Contains(first, []byte("\n  \"properties\": {")) {
		t.Fatalf("not indented JSON ending in a newline:\n%.200s", first)
	}
	// HTML escaping would turn "a > b" into \u003e; the file stays readable.
	if bytes.Contains(first, []byte(`\u003e`)) || bytes.Contains(first, []byte(`\u0026`)) {
		t.Fatal("the schema escapes < > & as \\u00xx")
	}
}

// A spec that cannot be described is an error naming it, not a
// silently wrong schema.
func TestBrokenSpecsAreErrors(t *testing.T) {
	cases := map[string]struct {
		edit func(*Specs)
		want string
	}{
		"missing shorthand field":  {func(s *Specs) { s.Middlewares[0].Value.Shorthand = "seconds" }, `middleware deadline: shorthand "seconds"`},
		"list without elem":        {func(s *Specs) { s.Stages[2].Value.Elem = nil }, "stage pick: a List field needs Elem"},
		"example without its kind": {func(s *Specs) { s.Stages[0].Example = "filter: payload.ok" }, `stage check: its Example "filter: payload.ok" has no "check" key`},
		"example not YAML":         {func(s *Specs) { s.Stages[0].Example = "check: [" }, "stage check: its Example is not valid YAML"},
		"unknown type":             {func(s *Specs) { s.Connectors[0].SourceFields[0].Type = registry.Any + 1 }, "source gen.payload: unknown field type"},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			specs := fakeSpecs()
			tc.edit(&specs)
			_, err := GenerateFrom(specs)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}

func assertJSON(t *testing.T, what string, got any, want string) {
	t.Helper()
	var w any
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad expected JSON: %v", what, err)
	}
	if !reflect.DeepEqual(got, w) {
		g, _ := json.Marshal(got)
		e, _ := json.Marshal(w)
		t.Errorf("%s:\n got %s\nwant %s", what, g, e)
	}
}

func keys(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
