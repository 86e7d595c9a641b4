// Package plugintest compiles flows whose stage kinds exist only in this
// test: no built-in kind is registered here, so what the compiler
// enforces about them comes from the placement their specs declare, not
// from knowing a kind by name.
package plugintest

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

type pass struct{}

func (pass) Apply(_ *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
	return append(out, m), nil
}

// kind registers a stage kind whose value is a count (so "x" is a bad
// value) and which builds what build returns.
func kind(name string, spec registry.StageSpec, build func() registry.Built) {
	spec.Name, spec.Summary = name, "a test kind"
	spec.Value = registry.Field{Type: registry.Int, Min: registry.F(0)}
	spec.Build = func(*registry.Build, any) (registry.Built, error) { return build(), nil }
	registry.RegisterStage(&spec)
}

func step() registry.Built { return registry.Built{Step: pass{}} }

func batch() registry.Built {
	return registry.Built{Batch: &registry.BatchPlan{Size: 5, Timeout: 1, MaxBuffered: 5}}
}

func init() {
	fail := func(context.Context, registry.Config, registry.Env) (registry.Source, error) {
		return nil, errors.New("compile only")
	}
	none := func(context.Context, registry.Config, registry.Env) (registry.Sink, error) {
		return nil, errors.New("compile only")
	}
	registry.RegisterConnector(&registry.ConnectorSpec{Name: "in", Summary: "source", Source: fail})
	registry.RegisterConnector(&registry.ConnectorSpec{Name: "out", Summary: "sink", Sink: none})

	kind("plain", registry.StageSpec{}, step)
	kind("last", registry.StageSpec{Terminal: "it ends the flow"}, step)
	kind("once", registry.StageSpec{Unique: true}, step)
	kind("pick", registry.StageSpec{Routes: true}, step)
	kind("steer", registry.StageSpec{Routes: true, Unique: true}, step)
	kind("group", registry.StageSpec{Terminal: "it hands groups to the sink", Unique: true}, batch)
	kind("loose-group", registry.StageSpec{}, batch)
	kind("nothing", registry.StageSpec{}, func() registry.Built { return registry.Built{} })
	kind("both", registry.StageSpec{}, func() registry.Built {
		return registry.Built{Step: pass{}, Batch: batch().Batch}
	})
}

const (
	head = "version: 1\nname: t\nsource: {in: {}}\n"
	one  = "sink: {out: {}}\n"
	two  = "sinks:\n  a: {out: {}}\n  b: {out: {}}\n"
)

func compile(t *testing.T, src string) (*compiler.Flow, []string) {
	t.Helper()
	f, ds := dsl.Parse("f.yaml", []byte(src), func(string) (string, bool) { return "", false })
	if len(ds) > 0 {
		t.Fatalf("parse: %v", ds)
	}
	flow, ds := compiler.Compile(f)
	ds.Sort()
	var got []string
	for _, d := range ds {
		d.Snippet = ""
		got = append(got, d.String())
	}
	if (flow == nil) == (len(got) == 0) {
		t.Fatalf("a flow %v with diagnostics %q", flow != nil, got)
	}
	return flow, got
}

func TestPlacementIsEnforcedForAnyKind(t *testing.T) {
	for _, tc := range []struct {
		name, src string
		want      []string
	}{
		{"a Terminal kind not last", head + one + "stages:\n  - last: 1\n  - plain: 1\n",
			[]string{"f.yaml:6:5: stages[0]: last must be the last stage: it ends the flow"}},
		{"a Terminal kind twice: the one not last", head + one + "stages:\n  - last: 1\n  - last: 2\n",
			[]string{"f.yaml:6:5: stages[0]: last must be the last stage: it ends the flow"}},
		{"placement is reported for a value with problems too", head + one + "stages:\n  - last: x\n  - plain: 1\n",
			[]string{
				"f.yaml:6:5: stages[0]: last must be the last stage: it ends the flow",
				`f.yaml:6:11: stages[0].last: expected a whole number, got "x"`,
			}},
		{"a Unique kind twice", head + one + "stages:\n  - once: 1\n  - plain: 1\n  - once: 2\n",
			[]string{"f.yaml:8:5: stages[2]: only one once stage per flow (the first is at line 6)"}},
		{"a Terminal, Unique kind twice says only that it is one too many", head + one + "stages:\n  - group: 1\n  - group: 2\n  - plain: 1\n",
			[]string{
				"f.yaml:6:5: stages[0]: group must be the last stage: it hands groups to the sink",
				"f.yaml:7:5: stages[1]: only one group stage per flow (the first is at line 6)",
			}},
		{"a Routes kind with sink:", head + one + "stages:\n  - pick: 1\n",
			[]string{"f.yaml:6:5: stages[0]: pick sends messages to named sinks: declare them under `sinks:` instead of `sink:`"}},
		{"several sinks and no kind that Routes", head + two + "stages:\n  - plain: 1\n",
			[]string{"f.yaml:5:3: sinks: with several sinks, add a pick or steer stage to choose one per message"}},
		{"a batch node named like a fixed node", head + one + "stages:\n  - {name: processors, group: 1}\n",
			[]string{`f.yaml:6:5: stages[0]: a group stage cannot be named "processors": the graph has a processors node; choose another name`}},
		{"a batch node from a kind that may stand anywhere", head + one + "stages:\n  - loose-group: 1\n",
			[]string{`f.yaml:6:5: stages[0]: stage kind "loose-group" builds a batch node but is not declared Terminal and Unique`}},
		{"a kind that builds nothing", head + one + "stages:\n  - nothing: 1\n",
			[]string{`f.yaml:6:5: stages[0]: stage kind "nothing" must build exactly one of a step or a batch node`}},
		{"a kind that builds both", head + one + "stages:\n  - both: 1\n",
			[]string{`f.yaml:6:5: stages[0]: stage kind "both" must build exactly one of a step or a batch node`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, got := compile(t, tc.src)
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("diagnostics:\n got:\n  %s\nwant:\n  %s", strings.Join(got, "\n  "), strings.Join(tc.want, "\n  "))
			}
		})
	}
}

// A flow that keeps every rule compiles into steps, one batch node and a
// graph whose node ids are those of its connectors and its batch stage.
func TestPlacedKindsCompile(t *testing.T) {
	f, _ := compile(t, head+two+"dead_letter: {out: {}}\nstages:\n  - once: 1\n  - pick: 1\n  - plain: 1\n  - {name: groups, group: 1}\n")
	var steps []string
	for _, s := range f.Steps {
		steps = append(steps, s.Name+":"+s.Kind)
	}
	if got := strings.Join(steps, " "); got != "once_0:once pick_1:pick plain_2:plain" {
		t.Errorf("steps %s", got)
	}
	if f.Batch == nil || f.Batch.Name != "groups" || f.Batch.NodeID != "groups" || f.Batch.Plan.Size != 5 {
		t.Fatalf("batch %+v", f.Batch)
	}
	var ids []string
	for _, c := range append(append([]*compiler.Connector{f.Source}, f.Sinks...), f.DeadLetter) {
		ids = append(ids, c.NodeID)
	}
	if got := strings.Join(ids, " "); got != "source sink:a sink:b dead_letter" {
		t.Errorf("connector node ids %s", got)
	}
	var nodes, edges []string
	for _, n := range f.Graph.Nodes {
		nodes = append(nodes, n.ID+"/"+n.Kind)
	}
	for _, e := range f.Graph.Edges {
		edges = append(edges, e.From+"->"+e.To)
	}
	if got, want := strings.Join(nodes, " "), "source/source processors/processors groups/batch sink:a/sink sink:b/sink dead_letter/dead_letter"; got != want {
		t.Errorf("nodes\n got %s\nwant %s", got, want)
	}
	if got, want := strings.Join(edges, " "), "source->processors processors->groups groups->sink:a groups->sink:b processors->dead_letter"; got != want {
		t.Errorf("edges\n got %s\nwant %s", got, want)
	}
}
