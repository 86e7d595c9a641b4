package schema_test

import (
	"bytes"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/flowrun/flowrun/connectors/all"
	_ "github.com/flowrun/flowrun/middleware"
	"github.com/flowrun/flowrun/registry"
	"github.com/flowrun/flowrun/schema"
	_ "github.com/flowrun/flowrun/stages"
)

const regenerate = "regenerate it with `go generate ./schema` (or `make schema`) and commit flow.schema.json"

// The committed file, which `flowrun schema` prints and editors load,
// is what the registry gives today.
func TestCommittedSchemaIsUpToDate(t *testing.T) {
	want, err := schema.Generate()
	if err != nil {
		t.Fatalf("Generate: %v", err)
	}
	committed, err := os.ReadFile("flow.schema.json")
	if err != nil {
		t.Fatalf("%v; %s", err, regenerate)
	}
	if !bytes.Equal(committed, want) {
		t.Fatalf("schema/flow.schema.json is out of date with the registry (first difference at line %d); %s",
			firstDifferentLine(committed, want), regenerate)
	}
	if !bytes.Equal(schema.Embedded(), committed) {
		t.Fatal("Embedded() differs from flow.schema.json; rebuild")
	}
	schema.CompileSchema(t, want)
}

// Every built-in connector, stage kind and middleware is in the schema.
func TestEveryRegisteredSpecHasADefinition(t *testing.T) {
	doc := schema.Embedded()
	var names []string
	for _, c := range registry.Connectors() {
		if c.Source != nil {
			names = append(names, "source."+c.Name)
		}
		if c.Sink != nil {
			names = append(names, "sink."+c.Name)
		}
	}
	for _, s := range registry.Stages() {
		names = append(names, "stage."+s.Name)
	}
	for _, m := range registry.Middlewares() {
		names = append(names, "middleware."+m.Name)
	}
	// The flow contract's built-ins, so an empty registry cannot pass.
	for _, n := range []string{"source.generate", "source.stdin", "sink.stdout", "source.file", "sink.file",
		"source.memory", "sink.memory", "sink.drop", "source.kafka", "sink.kafka", "stage.filter", "stage.map",
		"stage.set", "stage.meta", "stage.key", "stage.split", "stage.route", "stage.batch", "stage.log",
		"middleware.retry", "middleware.timeout", "middleware.throttle", "middleware.dedupe"} {
		if !slices.Contains(names, n) {
			t.Errorf("%s is not registered", n)
		}
	}
	for _, n := range names {
		if !bytes.Contains(doc, []byte(`"`+n+`": {`)) {
			t.Errorf("$defs has no %q; %s", n, regenerate)
		}
	}
}

// Every example flow passes a real validator, as it would in an editor.
func TestExampleFlowsValidate(t *testing.T) {
	sch := schema.CompileSchema(t, schema.Embedded())
	files, err := filepath.Glob(filepath.Join("..", "examples", "flows", "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	for _, file := range files {
		if strings.HasSuffix(file, ".test.yaml") { // a flow's tests (flowrun test), not a flow
			continue
		}
		src, err := os.ReadFile(file)
		if err != nil {
			t.Fatal(err)
		}
		if err := schema.ValidateYAML(sch, src); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
	t.Logf("validated %d example flows", len(files))
}

// The flow of the flow contract (shared/flow-spec.md), as written there
// (but for backquotes in a comment).
const contractFlow = `
version: 1                       # required
name: large-eur-payments         # required, [a-z0-9][a-z0-9_-]*; the flow label of every metric
description: EUR payments over 500, batched to the ledger topic

source:                          # exactly one connector
  kafka:
    brokers: ["${KAFKA_BROKERS:-127.0.0.1:9092}"]
    topic: payments.created
    group: large-eur-payments
  codec: json                    # json (default) | text | bytes: decoded once, at the source

concurrency: 8                   # processor pool size (default: number of CPUs)
max_demand: 64                   # most messages one processor asks for at once
partition_by: payload.user       # optional expression: same value => same processor, in order

middleware:                      # wraps the whole handler chain of each message; first = outermost
  - retry: {max_retries: 3, initial_interval: 100ms, max_interval: 5s}
  - timeout: 2s
  - throttle: {per_second: 1000}
  - dedupe: {key: meta.event_id, ttl: 10m}

stages:                          # run in order; each item has exactly one kind, and an optional name
  - filter: payload.amount > 500 && payload.currency == "EUR"
  - name: shape
    map: '{"id": payload.id, "user": payload.user, "cents": int(payload.amount * 100)}'
  - batch: {size: 50, timeout: 1s}

sink:                            # or sinks: (named) with a route stage
  kafka: {brokers: ["${KAFKA_BROKERS:-127.0.0.1:9092}"], topic: payments.large}

dead_letter:                     # where a message goes when its handling finally fails
  kafka: {brokers: ["${KAFKA_BROKERS:-127.0.0.1:9092}"], topic: payments.dlq}
`

// Inline flows, so the check never rests on the examples alone: the
// contract's flow and a small one pass, an unknown key is rejected.
func TestInlineFlows(t *testing.T) {
	sch := schema.CompileSchema(t, schema.Embedded())
	if err := schema.ValidateYAML(sch, []byte(contractFlow)); err != nil {
		t.Fatalf("the flow contract's example is rejected: %v", err)
	}
	valid := `
version: 1
name: inline
source:
  generate: {count: 10, interval: 10ms, payload: '{"n": counter}'}
concurrency: ${N:-2}
middleware:
  - retry: {max_retries: 3, initial_interval: 100ms, max_interval: 5s}
  - timeout: 2s
stages:
  - filter: payload.n > 2
  - set: {doubled: payload.n * 2, seen: true}
  - batch: {size: 5, timeout: 1s}
sink:
  stdout: {envelope: true}
dead_letter:
  drop:
`
	if err := schema.ValidateYAML(sch, []byte(valid)); err != nil {
		t.Fatalf("valid flow rejected: %v", err)
	}
	unknownKey := strings.Replace(valid, "stages:", "stagez:", 1)
	err := schema.ValidateYAML(sch, []byte(unknownKey))
	if err == nil {
		t.Fatal("a flow with the unknown key stagez was accepted")
	}
	if !strings.Contains(err.Error(), "stagez") {
		t.Errorf("the error does not name the unknown key: %v", err)
	}
}

// Each spec's Example, the documentation users copy, is valid in a flow.
func TestSpecExamplesValidate(t *testing.T) {
	sch := schema.CompileSchema(t, schema.Embedded())
	flow := func(part string) string {
		return "version: 1\nname: example\nsource: {generate: {payload: counter}}\nsink: {stdout: {}}\n" + part
	}
	for _, s := range registry.Stages() {
		if s.Example == "" {
			continue
		}
		if err := schema.ValidateYAML(sch, []byte(flow("stages:\n"+indentItem(s.Example)))); err != nil {
			t.Errorf("stage %s: its Example %q is rejected: %v", s.Name, s.Example, err)
		}
	}
	for _, m := range registry.Middlewares() {
		if m.Example == "" {
			continue
		}
		if err := schema.ValidateYAML(sch, []byte(flow("middleware:\n"+indentItem(m.Example)))); err != nil {
			t.Errorf("middleware %s: its Example %q is rejected: %v", m.Name, m.Example, err)
		}
	}
}

// indentItem turns a YAML map into one item of a list.
func indentItem(yamlMap string) string {
	lines := strings.Split(yamlMap, "\n")
	for i, l := range lines {
		if i == 0 {
			lines[i] = "  - " + l
		} else {
			lines[i] = "    " + l
		}
	}
	return strings.Join(lines, "\n") + "\n"
}

func firstDifferentLine(a, b []byte) int {
	la, lb := bytes.Split(a, []byte("\n")), bytes.Split(b, []byte("\n"))
	for i := range min(len(la), len(lb)) {
		if !bytes.Equal(la[i], lb[i]) {
			return i + 1
		}
	}
	return min(len(la), len(lb)) + 1
}
