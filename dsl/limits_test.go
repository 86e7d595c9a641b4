package dsl

import (
	"strings"
	"testing"
)

// An 8.5 MB flow of 300k stages took 23 s and 450 MB, was blamed on YAML
// aliases it did not have, and printed 266,671 follow-on problems. Each
// limit now gives one diagnostic that names it.
func TestBigFlowsGetOneDiagnosticNamingTheLimit(t *testing.T) {
	stages := func(n int) string {
		return "version: 1\nname: big\n" + io + "stages:\n" + strings.Repeat("  - filter: payload.x > 1\n", n)
	}
	for name, tc := range map[string]struct{ src, want string }{
		"bytes":  {stages(60000), "bytes, over the limit of 1048576 (1 MiB)"},
		"values": {stages(0) + "description: [" + strings.Repeat("1,", 120000) + "1]\n", "the file has more than 100000 values, the most a flow file may have"},
		"stages": {stages(MaxStages + 1), "the flow has 1001 stages, over the limit of 1000"},
	} {
		t.Run(name, func(t *testing.T) {
			_, ds := Parse("f.yaml", []byte(tc.src), noEnv)
			if len(ds) != 1 || !strings.Contains(ds[0].Message, tc.want) {
				t.Fatalf("want one diagnostic %q, got %d: %.300v", tc.want, len(ds), ds)
			}
		})
	}
	if _, ds := Parse("f.yaml", []byte(stages(MaxStages)), noEnv); len(ds) != 0 {
		t.Fatalf("%d stages: %v", MaxStages, ds)
	}
}
