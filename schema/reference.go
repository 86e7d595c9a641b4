package schema

import (
	"bytes"
	_ "embed"
	"fmt"
	"strings"
	"text/template"

	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// The reference's prose; the tables and per-spec sections are filled in
// from the specs, so they cannot drift from what `flowrun validate` checks.
//
//go:embed reference.md.tmpl
var referenceTemplate string

// ReferenceInput is what docs/reference.md is generated from: the specs,
// and what lives outside this package (the CLI's help, the runtime's
// metrics), passed in by the generator.
type ReferenceInput struct {
	Specs    Specs
	Usage    string    // `flowrun -h`
	Commands []Command // `flowrun COMMAND -h`, in usage order
	Metrics  []Metric
}

// Command is one command's help, as `flowrun NAME -h` prints it.
type Command struct {
	Name, Help string
}

// Metric is one Prometheus metric family the runtime exports.
type Metric struct {
	Name, Type, Help string
	Labels           []string
}

// Reference returns docs/reference.md for the registered specs, the
// runtime's metrics and the CLI's help (cli.Helps, which imports this
// package, so it is passed in).
func Reference(usage string, commands []Command) ([]byte, error) {
	metrics, err := RuntimeMetrics()
	if err != nil {
		return nil, err
	}
	return GenerateReference(ReferenceInput{Specs: Registered(), Usage: usage, Commands: commands, Metrics: metrics})
}

// GenerateReference returns the reference of in. The same input gives
// the same bytes.
func GenerateReference(in ReferenceInput) ([]byte, error) {
	var errs []error
	section := func(s string, err error) string {
		if err != nil {
			errs = append(errs, err)
		}
		return s
	}
	data := map[string]string{
		"TopLevel":   section(topLevelTable()),
		"Names":      section(namesTable()),
		"Codecs":     section(codecsTable()),
		"Stages":     section(kindSections(stageKinds(in.Specs.Stages))),
		"StageList":  kindNames(stageKinds(in.Specs.Stages)),
		"Middleware": section(kindSections(middlewareKinds(in.Specs.Middlewares))),
		"Connectors": section(connectorSections(in.Specs.Connectors)),
		"Metrics":    metricsTable(in.Metrics),
		"CLI":        cliSections(in.Usage, in.Commands),
	}
	if len(errs) > 0 {
		return nil, fmt.Errorf("reference: %w", errs[0])
	}
	t, err := template.New("reference").Option("missingkey=error").Parse(referenceTemplate)
	if err != nil {
		return nil, fmt.Errorf("reference template: %w", err)
	}
	var out bytes.Buffer
	if err := t.Execute(&out, data); err != nil {
		return nil, fmt.Errorf("reference template: %w", err)
	}
	return out.Bytes(), nil
}

// topLevelTable documents the keys of a flow file from the same schema
// objects the JSON Schema uses.
func topLevelTable() (string, error) {
	props, err := topLevelProperties()
	if err != nil {
		return "", err
	}
	var b strings.Builder
	b.WriteString("| key | meaning | default |\n| --- | --- | --- |\n")
	for _, k := range dsl.TopLevelKeys {
		p, ok := props[k]
		if !ok {
			return "", fmt.Errorf("top-level key %q has no schema", k)
		}
		doc, _ := p.vals["description"].(string)
		def := ""
		if d, ok := p.vals["default"]; ok {
			def = code(fmt.Sprint(d))
		}
		if k == "version" || k == "name" || k == "source" {
			def = "required"
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", k, cell(doc), def)
	}
	return b.String(), nil
}

// nameDocs explains each name an expression may use; a name a scope
// gains without an entry here fails the generation.
var nameDocs = map[string][2]string{ // name -> type, meaning
	"payload":   {"any", "the decoded body: object, list, string, number, boolean or null (see [Codecs](#codecs))"},
	"meta":      {"map of string", "metadata: Kafka headers, broker properties, what `meta` stages set"},
	"key":       {"string", "the message key (Kafka key, partitioning); `\"\"` when none"},
	"topic":     {"string", "the topic, subject, queue or file the message came from"},
	"id":        {"string", "the message's unique id"},
	"batch":     {"list", "the payloads of the batch, in arrival order"},
	"batch_key": {"any", "the value of the batch's `key` expression (null without one)"},
	"counter":   {"whole number", "1 for the first generated message, then 2, 3, ..."},
}

var scopeDocs = []struct {
	scope expression.Scope
	where string
}{
	{expression.MessageScope, "every stage, middleware and `partition_by` expression"},
	{expression.ReduceScope, "`batch.reduce` only"},
	{expression.GenerateScope, "the `generate` source's `payload` only"},
}

func namesTable() (string, error) {
	var b strings.Builder
	b.WriteString("| name | type | meaning | available in |\n| --- | --- | --- | --- |\n")
	for _, s := range scopeDocs {
		for _, n := range s.scope.Names() {
			d, ok := nameDocs[n]
			if !ok {
				return "", fmt.Errorf("expression name %q has no entry in schema.nameDocs", n)
			}
			fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", n, d[0], d[1], s.where)
		}
	}
	return b.String(), nil
}

// codecDocs explains each codec; a codec without an entry fails the generation.
var codecDocs = map[string][2]string{ // name -> at the source, at a sink
	"json": {"the body decoded as one JSON value; a body that is not JSON fails (dead letter)",
		"JSON"},
	"text": {"the body as a string",
		"a string as it is; anything else as JSON"},
	"bytes": {"the body's bytes",
		"bytes (or a string) as they are; anything else as JSON"},
}

func codecsTable() (string, error) {
	var b strings.Builder
	b.WriteString("| codec | at the source, the payload is | at a sink, a changed payload is written as |\n| --- | --- | --- |\n")
	for _, c := range message.Codecs {
		d, ok := codecDocs[c]
		if !ok {
			return "", fmt.Errorf("codec %q has no entry in schema.codecDocs", c)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s |\n", c, d[0], d[1])
	}
	return b.String(), nil
}

func metricsTable(ms []Metric) string {
	var b strings.Builder
	b.WriteString("| metric | type | meaning |\n| --- | --- | --- |\n")
	for _, m := range ms {
		fmt.Fprintf(&b, "| `%s{%s}` | %s | %s |\n", m.Name, strings.Join(m.Labels, ","), m.Type, cell(m.Help))
	}
	return b.String()
}

func cliSections(usage string, cmds []Command) string {
	var b strings.Builder
	fmt.Fprintf(&b, "```\n$ flowrun --help\n%s```\n", usage)
	for _, c := range cmds {
		fmt.Fprintf(&b, "\n### flowrun %s\n\n```\n%s```\n", c.Name, c.Help)
	}
	return b.String()
}

// cell makes s safe inside a Markdown table cell: no column breaks, no
// line breaks, and <name> shown rather than taken for HTML.
var cellEscapes = strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;")

func cell(s string) string { return cellEscapes.Replace(s) }

func code(s string) string {
	if strings.Contains(s, "`") {
		return "`` " + s + " ``"
	}
	return "`" + s + "`"
}

// specKind is a stage or middleware kind, as the reference shows it.
type specKind struct {
	name, summary, example string
	value                  registry.Field
}

func stageKinds(specs []*registry.StageSpec) []specKind {
	out := make([]specKind, len(specs))
	for i, s := range specs {
		out[i] = specKind{s.Name, s.Summary, s.Example, s.Value}
	}
	return out
}

func middlewareKinds(specs []*registry.MiddlewareSpec) []specKind {
	out := make([]specKind, len(specs))
	for i, s := range specs {
		out[i] = specKind{s.Name, s.Summary, s.Example, s.Value}
	}
	return out
}

func kindNames(kinds []specKind) string {
	names := make([]string, len(kinds))
	for i, k := range kinds {
		names[i] = "[`" + k.name + "`](#" + k.name + ")"
	}
	return strings.Join(names, ", ")
}
