package compiler_test

import (
	"errors"
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
