package schema

import (
	"slices"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/registry"
)

func generateFakeReference(t *testing.T) string {
	t.Helper()
	specs := fakeSpecs()
	specs.Connectors[1].SinkFields = append(slices.Clip(specs.Connectors[1].SinkFields),
		registry.Field{Name: "note", Type: registry.String, Doc: "a | b, as <name>"})
	doc, err := GenerateReference(ReferenceInput{Specs: specs, Usage: "flowrun: usage\n",
		Commands: []Command{{Name: "run", Help: "Usage: flowrun run FILE\n"}},
		Metrics:  []Metric{{Name: "flowrun_x_total", Type: "counter", Help: "Things.", Labels: []string{"flow", "stage"}}}})
	if err != nil {
		t.Fatalf("GenerateReference: %v", err)
	}
	return string(doc)
}

// Every field of every spec is a row with its type, limits, default,
// required-ness and meaning; nested fields get dotted names.
func TestReferenceRowsCarryEveryFieldFact(t *testing.T) {
	doc := generateFakeReference(t)
	for _, want := range []string{
		"### `queue`\n\nA queue.\n\nAs a source:\n\n| field | type | default | meaning |",
		"| `topic` | string | required | the topic |",
		"| `batch` | whole number, at least 1 | `10` | messages per fetch |",
		"| `durable` | boolean | `true` |  |",
		"| `wait` | [duration](#values), at least 1ms | `1m30s` | how long to wait |",
		"| `linger` | [duration](#values) |  | may be 0 |",
		"| `max_bytes` | [size](#values), at least 1 byte | `1048576` |  |",
		"| `mode` | one of `fast`, `safe` | `safe` |  |",
		"| `select` | [expression](#expressions) |  | which messages |",
		"| `brokers` | list of strings |  |  |",
		"| `headers` | map of name to string |  |  |",
		"| `tls` | map (fields below) |  |  |",
		"| `tls.ca` | string | required |  |",
		"| `tls.verify` | boolean | `true` |  |",
		"| `extra` | any YAML value |  |  |",
		"| `password` | string |  | a secret: never printed, better given as `${VAR}` or `${file:PATH}` |",
		"| `note` | string |  | a \\| b, as &lt;name&gt; |",
		"| `payload` | [expression](#expressions) with `counter` in scope | required |  |",
		"As a sink or dead letter: no settings (`void: {}`).",
		"### `check`\n\nKeeps when true.\n\n```yaml\n- check: payload.ok\n```\n\nValue (an [expression](#expressions)): a boolean expression.\n",
		"| `reduce` | [expression](#expressions) with `batch`, `batch_key` in scope |  |  |",
		"Value: a list of maps with the fields below.\n\n| field | type | default | meaning |\n| --- | --- | --- | --- |\n| `when` |",
		"Value: a map of name to [expression](#expressions).",
		"Value: a map with the fields below, or its `duration` alone.",
		"| `per_second` | number | required |  |",
		"| `flowrun_x_total{flow,stage}` | counter | Things. |",
		"### flowrun run\n\n```\nUsage: flowrun run FILE\n```",
	} {
		if !strings.Contains(doc, want) {
			t.Errorf("reference lacks %q", want)
		}
	}
}

// A name in scope or a codec without documentation fails the generation
// rather than leaving a hole in the reference.
func TestReferenceRefusesUndocumentedNames(t *testing.T) {
	saved := nameDocs["counter"]
	delete(nameDocs, "counter")
	defer func() { nameDocs["counter"] = saved }()
	_, err := GenerateReference(ReferenceInput{Specs: fakeSpecs()})
	if err == nil || !strings.Contains(err.Error(), `"counter"`) {
		t.Fatalf("err %v, want one naming counter", err)
	}
}
