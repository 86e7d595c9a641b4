package dsl

import (
	"fmt"
	"strings"
	"testing"
)

// io is a valid source and sink, for cases about other keys.
const io = "source: {file: {path: in.jsonl}}\nsink: {file: {path: out.jsonl}}\n"

func TestParseDiagnostics(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string // «needle» is replaced by the position of needle in src
	}{
		{"unknown top-level key with suggestion",
			"version: 1\nname: x\nstagse: []\n" + io,
			[]string{`«stagse»: stagse: unknown key "stagse"; did you mean "stages"?`}},
		{"unknown key far from any",
			"version: 1\nname: x\nwhatever: 1\n" + io,
			[]string{`«whatever»: whatever: unknown key "whatever"`}},
		{"missing version, reported where the map starts",
			"# a comment first\nname: x\n" + io,
			[]string{"«name»: version is required; add `version: 1`"}},
		{"missing name",
			"version: 1\n" + io,
			[]string{"«version»: name is required: the flow's name, the `flow` label of every metric"}},
		{"missing source and sink",
			"version: 1\nname: x\n",
			[]string{
				"«version»: source is required: exactly one connector, e.g. `source: {file: {path: in.jsonl}}`",
				"«version»: a sink is required: `sink:` with one connector, or `sinks:` with named ones",
			}},
		{"bad name",
			"version: 1\nname: Payments EUR\n" + io,
			[]string{`«Payments»: name: name "Payments EUR" must match [a-z0-9][a-z0-9_-]* (lower case, digits, _ and -)`}},
		{"name that is not a string",
			"version: 1\nname: [a]\n" + io,
			[]string{`«[a]»: name: expected a string, got a list`}},
		{"version 2",
			"version: 2\nname: x\n" + io,
			[]string{`«2»: version: unsupported version 2; this flowrun reads version 1`}},
		{"quoted version is not a number",
			"version: \"1\"\nname: x\n" + io,
			[]string{`«"1"»: version: expected a whole number, got "1"`}},
		{"concurrency as a string",
			"version: 1\nname: x\nconcurrency: \"x\"\n" + io,
			[]string{`«"x"»: concurrency: expected a whole number, got "x"`}},
		{"concurrency 0 and negative max_demand",
			"version: 1\nname: x\nconcurrency: 0\nmax_demand: -3\nmax_message_bytes: 1.5\n" + io,
			[]string{
				`«0»: concurrency: must be at least 1, got 0`,
				`«-3»: max_demand: must be at least 1, got -3`,
				`«1.5»: max_message_bytes: expected a whole number, got "1.5"`,
			}},
		{"sink and sinks both",
			"version: 1\nname: x\nsource: {file: {}}\nsink: {file: {}}\nsinks: {a: {file: {}}}\n",
			[]string{`«{a:»: sinks: use either sink (one) or sinks (named, with a route stage), not both`}},
		{"connector with two kinds",
			"version: 1\nname: x\nsource: {file: {}, kafka: {}}\nsink: {file: {}}\n",
			[]string{`«kafka»: source.kafka: a connector has exactly one kind, found "file" and "kafka"`}},
		{"connector without kind",
			"version: 1\nname: x\nsource: {codec: text}\nsink: file\n",
			[]string{
				`«{codec»: source: no connector kind given; add one key such as file, stdout, memory or kafka`,
				`«file»: sink: expected a connector map such as {file: {path: out.jsonl}}, got "file"`,
			}},
		{"bad sinks",
			"version: 1\nname: x\nsource: {file: {}}\nsinks:\n  Big: {file: {}}\n  ok: []\n",
			[]string{
				`«Big»: sinks.Big: sink name "Big" must match [a-z0-9][a-z0-9_-]*`,
				`«[]»: sinks.ok: expected a connector map such as {file: {path: out.jsonl}}, got a list`,
			}},
		{"stage with two kinds, stage without kind",
			"version: 1\nname: x\n" + io + "stages:\n  - filter: payload.a\n    map: payload.b\n  - name: lonely\n",
			[]string{
				`«map»: stages[0].map: a stage has exactly one kind, found "filter" and "map"; split it into two stages`,
				`«name: lonely»: stages[1]: stage has no kind; add one such as filter, map, set or batch`,
			}},
		{"duplicate stage names, given and generated",
			"version: 1\nname: x\n" + io + "stages:\n  - {name: s, filter: a}\n  - {name: s, map: b}\n  - filter: c\n  - {name: filter_2, map: d}\n",
			[]string{
				`«{name: s, map»: stages[1]: stage name "s" is used twice; names must be unique`,
				`«{name: filter_2»: stages[3]: stage name "filter_2" is used twice; names must be unique`,
			}},
		{"bad stage name and shapes",
			"version: 1\nname: x\n" + io + "stages:\n  - {name: Shape, map: b}\n  - payload.x\n",
			[]string{
				`«Shape»: stages[0].name: stage name "Shape" must match [a-z0-9][a-z0-9_-]*`,
				`«payload.x»: stages[1]: a stage is a map with one kind, e.g. ` + "`- filter: payload.ok`" + `; got "payload.x"`,
			}},
		{"stages and middleware not lists",
			"version: 1\nname: x\n" + io + "stages: {filter: a}\nmiddleware: timeout\n",
			[]string{
				`«{filter»: stages: stages must be a list, got a map`,
				`«timeout»: middleware: middleware must be a list, got "timeout"`,
			}},
		{"middleware item with two kinds",
			"version: 1\nname: x\n" + io + "middleware:\n  - {timeout: 1s, retry: {}}\n",
			[]string{"«{timeout»: middleware[0]: a middleware is a map with exactly one kind, e.g. `- timeout: 2s`; got a map"}},
		{"duplicate keys, top-level and nested",
			"version: 1\nname: x\nname: y\nsource: {file: {path: a, path: b}}\nsink: {file: {}}\n",
			[]string{
				`«name#2»: name: duplicate key "name"`,
				`«path#2»: source.file.path: duplicate key "path"`,
			}},
		{"merge keys",
			"version: 1\nname: x\nsource: {file: &f {path: a}}\nsink: {file: {<<: *f}}\n",
			[]string{`«<<»: sink.file: YAML merge keys (<<) are not supported; write the keys out`}},
		{"not a map",
			"- version: 1\n",
			[]string{`«-»: a flow file must be a YAML map with version, name, source, stages and sink`}},
		{"document marker only",
			"---",
			[]string{`«---»: a flow file must be a YAML map with version, name, source, stages and sink`}},
		{"empty file",
			"",
			[]string{`f.yaml: a flow file must be a YAML map with version, name, source, stages and sink`}},
		{"all problems of a file are reported",
			"version: 1\nname: Bad\nconcurrency: 0\nsink_: {}\n" + io + "stages:\n  - name: only\n",
			[]string{
				`«Bad»: name: name "Bad" must match [a-z0-9][a-z0-9_-]* (lower case, digits, _ and -)`,
				`«0»: concurrency: must be at least 1, got 0`,
				`«sink_»: sink_: unknown key "sink_"; did you mean "sink"?`,
				`«name: only»: stages[0]: stage has no kind; add one such as filter, map, set or batch`,
			}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, ds := Parse("f.yaml", []byte(tc.src), noEnv)
			wantDiags(t, tc.src, ds, tc.want)
		})
	}
}

func TestParseYAMLSyntaxErrorLine(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want string
	}{
		{"unclosed flow list, at the line that opens it",
			"version: 1\nname: x\nsource: [file\n\n# end\n",
			"f.yaml:3:1: invalid YAML: did not find expected ',' or ']'"},
		{"tab in indentation",
			"version: 1\nname: x\nsource:\n  file: {}\n\tsink: {}\n",
			"f.yaml:5:1: invalid YAML: found character that cannot start any token"},
		{"mapping inside a scalar",
			"version: 1\nname: x\nsource: a\n  b: c\n",
			"f.yaml:4:1: invalid YAML: mapping values are not allowed in this context"},
		{"bad indentation of a list item",
			"version: 1\nname: x\nstages:\n  - filter: a\n - map: b\n",
			"f.yaml:5:1: invalid YAML: did not find expected key"},
		{"unterminated quote",
			"version: 1\nname: \"x\n",
			"f.yaml:2:1: invalid YAML: found unexpected end of stream"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, ds := Parse("f.yaml", []byte(tc.src), noEnv)
			if f != nil {
				t.Errorf("got a flow for invalid YAML")
			}
			if got := strings.Join(render(ds), "\n"); got != tc.want {
				t.Errorf("got  %s\nwant %s", got, tc.want)
			}
		})
	}
}

func TestParseValidFlow(t *testing.T) {
	src := `version: 1
name: large-eur-payments
description: EUR payments
source:
  file: {path: in.jsonl}
  codec: text
concurrency: 8
max_demand: 64
partition_by: payload.user
middleware:
  - retry: {max_retries: 3}
  - timeout: 2s
stages:
  - filter: payload.amount > 500
  - name: shape
    map: '{"id": payload.id}'
  - filter: payload.id != ""
sinks:
  large: {file: {path: large.jsonl}}
  small: {file: {path: small.jsonl}}
dead_letter: {file: {path: dlq.jsonl}}
`
	f, ds := Parse("f.yaml", []byte(src), noEnv)
	if len(ds) > 0 {
		t.Fatalf("unexpected diagnostics: %v", ds)
	}
	if f.Version != 1 || f.Name != "large-eur-payments" || f.Description != "EUR payments" {
		t.Errorf("header: got version %d name %q description %q", f.Version, f.Name, f.Description)
	}
	if f.Concurrency == nil || f.Concurrency.Value != 8 || f.MaxDemand == nil || f.MaxDemand.Value != 64 || f.MaxMessageBytes != nil {
		t.Errorf("settings: concurrency %+v max_demand %+v max_message_bytes %+v", f.Concurrency, f.MaxDemand, f.MaxMessageBytes)
	}
	if f.PartitionBy == nil || f.PartitionBy.Value != "payload.user" || f.PartitionBy.Path != "partition_by" {
		t.Errorf("partition_by: %+v", f.PartitionBy)
	}
	if f.Source.Kind != "file" || f.Source.Name != "source" || f.Source.Config.Get("path").Value != "in.jsonl" || f.Source.Codec.Value != "text" {
		t.Errorf("source: %+v", f.Source)
	}
	var mw []string
	for _, m := range f.Middleware {
		mw = append(mw, m.Kind+"="+m.Value.Path)
	}
	if got := strings.Join(mw, " "); got != "retry=middleware[0].retry timeout=middleware[1].timeout" {
		t.Errorf("middleware: %s", got)
	}
	var stages []string
	for _, s := range f.Stages {
		stages = append(stages, s.Name+":"+s.Kind+"="+s.Value.Value)
	}
	if got := strings.Join(stages, " | "); got != `filter_0:filter=payload.amount > 500 | shape:map={"id": payload.id} | filter_2:filter=payload.id != ""` {
		t.Errorf("stages: %s", got)
	}
	if f.Sink != nil || len(f.Sinks) != 2 || f.Sinks[0].Name != "large" || f.Sinks[1].Name != "small" {
		t.Errorf("sinks: sink %v, sinks %v", f.Sink, f.Sinks)
	}
	if f.DeadLetter == nil || f.DeadLetter.Name != "dead_letter" || f.DeadLetter.Kind != "file" {
		t.Errorf("dead letter: %+v", f.DeadLetter)
	}
}

func TestParseExpressionTextPositions(t *testing.T) {
	src := "version: 1\nname: x\n" + io + "stages:\n" +
		"  - filter: payload.a\n" +
		"  - filter: \"payload.b\"\n" +
		"  - filter: |\n\n      payload.c &&\n        payload.d\n"
	f, ds := Parse("f.yaml", []byte(src), noEnv)
	if len(ds) > 0 {
		t.Fatalf("unexpected diagnostics: %v", ds)
	}
	cases := []struct {
		stage       int
		needle      string
		linesBefore int // blank lines of a block before needle
		block       bool
	}{
		{0, "payload.a", 0, false},
		{1, "payload.b", 0, false}, // after the quote
		// The value's first line (blank here) is the line after the
		// header; the column is the text's indentation.
		{2, "payload.c", 1, true},
	}
	for _, tc := range cases {
		v := f.Stages[tc.stage].Value
		var line, col int
		fmt.Sscanf(lineCol(t, src, tc.needle, 1), "%d:%d", &line, &col)
		if got, want := fmt.Sprintf("%d:%d", v.ValuePos.Line, v.ValuePos.Col), fmt.Sprintf("%d:%d", line-tc.linesBefore, col); got != want {
			t.Errorf("stage %d: text starts at %s, want %s", tc.stage, got, want)
		}
		if v.Block != tc.block {
			t.Errorf("stage %d: Block = %v", tc.stage, v.Block)
		}
	}
	// The blank line of the block is kept, so the value's lines map to the file's lines.
	if got := f.Stages[2].Value.Value; got != "\npayload.c &&\n  payload.d\n" {
		t.Errorf("block value %q", got)
	}
}

func TestParseAliases(t *testing.T) {
	src := "version: 1\nname: x\nsource: {file: &conf {path: same.jsonl}}\nsink: {file: *conf}\n"
	f, ds := Parse("f.yaml", []byte(src), noEnv)
	if len(ds) > 0 {
		t.Fatalf("unexpected diagnostics: %v", ds)
	}
	if got := f.Sink.Config.Get("path").Value; got != "same.jsonl" {
		t.Errorf("aliased sink path %q", got)
	}
}

func TestParseAliasBombIsRefused(t *testing.T) {
	// Each level multiplies by 10: 10^9 values if expanded.
	var b strings.Builder
	b.WriteString("version: 1\nname: x\n" + io + "l0: &l0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i <= 8; i++ {
		prev := "*l" + string(rune('0'+i-1))
		b.WriteString("l" + string(rune('0'+i)) + ": &l" + string(rune('0'+i)) + " [")
		b.WriteString(strings.Repeat(prev+", ", 9) + prev + "]\n")
	}
	_, ds := Parse("f.yaml", []byte(b.String()), noEnv)
	var expands int
	for _, d := range ds {
		if strings.Contains(d.Message, "the file expands through its YAML aliases to more than 100000 values") {
			expands++
		}
	}
	if expands != 1 {
		t.Errorf("want one diagnostic about the expansion, got %v", ds)
	}
}
