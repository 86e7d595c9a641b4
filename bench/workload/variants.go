package main

import (
	"fmt"
	"regexp"
	"strings"
)

// variant is one way every workload is run: a flowrun binary and the
// top-level settings added to each flow file. Variants are measured in
// the same rounds, alternately, so a shared machine's load falls on all
// of them alike and their ratios mean something.
type variant struct {
	Label    string // "defaults", "tuned", "baseline", "baseline tuned"
	Bin      string
	Settings string // top-level YAML lines, "" for the defaults
}

// suffix tells the flow files and profiles of the variants apart.
func (v variant) suffix() string {
	if v.Label == "defaults" {
		return ""
	}
	return "-" + strings.ReplaceAll(v.Label, " ", "-")
}

var settingRE = regexp.MustCompile(`^[a-z_]+: *\S+$`)

// parseSettings turns "concurrency: 2, max_demand: 2000" into top-level
// YAML lines.
func parseSettings(s string) (string, error) {
	var lines []string
	for item := range strings.SplitSeq(s, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !settingRE.MatchString(item) {
			return "", fmt.Errorf("setting %q: want key: value, as in \"concurrency: 2, max_demand: 2000\"", item)
		}
		lines = append(lines, item+"\n")
	}
	return strings.Join(lines, ""), nil
}

// variants lists what to run: the binary under test at its defaults,
// with the tuned settings when given, and the same for a baseline
// binary (another build, for before/after) when given.
func variants(bin, baseline, tuned string) []variant {
	vs := []variant{{Label: "defaults", Bin: bin}}
	if tuned != "" {
		vs = append(vs, variant{Label: "tuned", Bin: bin, Settings: tuned})
	}
	if baseline != "" {
		vs = append(vs, variant{Label: "baseline", Bin: baseline})
		if tuned != "" {
			vs = append(vs, variant{Label: "baseline tuned", Bin: baseline, Settings: tuned})
		}
	}
	return vs
}

// setTunedRatios sets, on each untuned row, its speed over the tuned row
// of the same binary, workload and sink.
func setTunedRatios(rows []row, lines int) {
	for i := range rows {
		r := &rows[i]
		if r.Variant != "defaults" && r.Variant != "baseline" || r.Problem != "" {
			continue
		}
		want := "tuned"
		if r.Variant == "baseline" {
			want = "baseline tuned"
		}
		for _, t := range rows {
			if t.Variant == want && t.Workload == r.Workload && t.Sink == r.Sink && t.Problem == "" && t.rate(lines) > 0 {
				r.VsTuned = r.rate(lines) / t.rate(lines)
			}
		}
	}
}
