package schema_test

import (
	"bytes"
	"os"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/cli"
	"github.com/flowrun/flowrun/registry"
	"github.com/flowrun/flowrun/schema"
)

const regenerateReference = "regenerate it with `go generate ./schema` (or `make schema`) and commit docs/reference.md"

// The committed reference is what the specs, the CLI and the runtime
// give today.
func TestCommittedReferenceIsUpToDate(t *testing.T) {
	want, err := schema.Reference(cli.Helps())
	if err != nil {
		t.Fatalf("Reference: %v", err)
	}
	committed, err := os.ReadFile("../docs/reference.md")
	if err != nil {
		t.Fatalf("%v; %s", err, regenerateReference)
	}
	if !bytes.Equal(committed, want) {
		t.Fatalf("docs/reference.md is out of date (first difference at line %d); %s",
			firstDifferentLine(committed, want), regenerateReference)
	}
}

// Every built-in connector, stage kind and middleware has its section,
// with a row for every field, and every command its help.
func TestReferenceDocumentsEverySpecAndCommand(t *testing.T) {
	doc, err := os.ReadFile("../docs/reference.md")
	if err != nil {
		t.Fatal(err)
	}
	text := string(doc)
	has := func(what, s string) {
		t.Helper()
		if !strings.Contains(text, s) {
			t.Errorf("docs/reference.md has no %s (%q)", what, s)
		}
	}
	for _, c := range registry.Connectors() {
		has("connector section", "\n### `"+c.Name+"`\n")
		for _, f := range append(append([]registry.Field{}, c.SourceFields...), c.SinkFields...) {
			has("row for "+c.Name+"."+f.Name, "| `"+f.Name+"` |")
		}
	}
	for _, s := range registry.Stages() {
		has("stage section", "\n### `"+s.Name+"`\n")
	}
	for _, m := range registry.Middlewares() {
		has("middleware section", "\n### `"+m.Name+"`\n")
		for _, f := range m.Value.Fields {
			has("row for "+m.Name+"."+f.Name, "| `"+f.Name+"` |")
		}
	}
	for _, name := range []string{"run", "validate", "graph", "schema", "version", "broker"} {
		has("command help", "### flowrun "+name+"\n\n```\nUsage: flowrun "+name)
	}
	for _, metric := range []string{"flowrun_edge_messages_total", "flowrun_messages_total", "flowrun_stage_duration_seconds", "flowrun_batch_size"} {
		has("metric", "| `"+metric+"{")
	}
}

// The reference does not depend on the machine that generates it: flag
// defaults taken from FLOWRUN_* variables show their built-in values.
func TestReferenceIgnoresTheEnvironment(t *testing.T) {
	t.Setenv("FLOWRUN_HTTP_ADDR", "0.0.0.0:1")
	t.Setenv("FLOWRUN_LOG_LEVEL", "debug")
	_, helps := cli.Helps()
	for _, h := range helps {
		if strings.Contains(h.Help, "0.0.0.0:1") || strings.Contains(h.Help, "(default debug)") {
			t.Errorf("flowrun %s -h in the reference shows the environment:\n%s", h.Name, h.Help)
		}
	}
	if len(helps) == 0 || !strings.Contains(helps[1].Help, "(default 127.0.0.1:9464)") {
		t.Fatalf("no run help with the built-in default: %+v", helps)
	}
}
