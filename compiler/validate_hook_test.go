package compiler_test

import (
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/registry"
)

func init() {
	registry.RegisterConnector(&registry.ConnectorSpec{
		Name:    "ctest-pair",
		Summary: "a source whose fields depend on each other",
		SourceFields: []registry.Field{
			{Name: "low", Type: registry.Int, Default: 1, Doc: "low"},
			{Name: "high", Type: registry.Int, Default: 2, Doc: "high"},
		},
		Source: testSource,
		ValidateSource: func(cfg registry.Config) error {
			if cfg.Int("low") >= cfg.Int("high") {
				return registry.At(errors.New("high must be above low"), "high")
			}
			return nil
		},
	})
}

func TestConnectorValidateHookPointsAtTheField(t *testing.T) {
	src := "version: 1\nname: v\nsource:\n  ctest-pair:\n    low: 5\n    high: 3\nsink: {ctest-out: {}}\n"
	_, ds := compileSrc(t, src)
	if len(ds) != 1 || ds[0].Pos.Line != 6 || ds[0].Pos.Col != 11 || !strings.Contains(ds[0].Message, "high must be above low") {
		t.Fatalf("diagnostics %v", ds)
	}
	if _, ds := compileSrc(t, strings.Replace(src, "high: 3", "high: 9", 1)); len(ds) != 0 {
		t.Fatalf("valid pair rejected: %v", ds)
	}
}

func TestNeedsPayloadOnlyWhenSomethingReadsIt(t *testing.T) {
	for stages, want := range map[string]bool{
		"  - filter: meta.x == \"y\"\n":                                    false,
		"  - filter: payload.x > 1\n":                                      true,
		"  - set: {n: 1}\n":                                                true, // set decodes the object itself
		"  - batch: {size: 2, reduce: 'len(batch)'}\n":                     true, // batch is the payloads
		"  - batch: {size: 2}\n":                                           false,
		"  - key: meta.k\n  - batch: {size: 2, key: 'key', reduce: '1'}\n": true,
	} {
		flow := mustCompile(t, "version: 1\nname: n\nsource: {ctest-queue: {brokers: [b], topic: t}}\nstages:\n"+stages+"sink: {ctest-out: {}}\n")
		if flow.NeedsPayload != want {
			t.Errorf("%s: NeedsPayload %v, want %v", stages, flow.NeedsPayload, want)
		}
	}
}

// A flow decodes only the payload fields it reads when every expression
// reads the payload by field name and runs as closures; anything that
// needs the whole object decodes it whole.
func TestPayloadFieldsOnlyWhenEveryReadIsByName(t *testing.T) {
	for stages, want := range map[string][]string{
		"  - filter: payload.amount > 500 && payload.currency == \"EUR\"\n  - map: '{\"id\": payload.id, \"n\": payload.nested.n}'\n": {"amount", "currency", "id", "nested"},
		"  - key: payload[\"user\"]\n  - batch: {size: 2, key: 'payload.country'}\n":                                                  {"country", "user"},
		"  - filter: meta.x == \"y\"\n":                                  nil, // the payload is not read at all
		"  - filter: payload.x > 1\n  - map: payload\n":                  nil, // the whole payload
		"  - filter: len(payload.tags) > 1\n":                            nil, // len() runs on the VM
		"  - filter: payload.x > 1\n  - set: {n: 1}\n":                   nil, // set decodes the object itself
		"  - batch: {size: 2, key: 'payload.k', reduce: 'len(batch)'}\n": nil, // batch is the payloads
		"  - log: toJSON(payload)\n":                                     nil,
	} {
		flow := mustCompile(t, "version: 1\nname: n\nsource: {ctest-queue: {brokers: [b], topic: t}}\nstages:\n"+stages+"sink: {ctest-out: {}}\n")
		if !slices.Equal(flow.PayloadFields, want) {
			t.Errorf("%s: PayloadFields %q, want %q", stages, flow.PayloadFields, want)
		}
	}
	withPartition := mustCompile(t, "version: 1\nname: n\nsource: {ctest-queue: {brokers: [b], topic: t}}\npartition_by: payload.user\nstages:\n  - filter: payload.a > 1\nsink: {ctest-out: {}}\n")
	if !slices.Equal(withPartition.PayloadFields, []string{"a", "user"}) {
		t.Errorf("partition_by: PayloadFields %q", withPartition.PayloadFields)
	}
}
