package compiler

import (
	"fmt"
	"strings"

	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/registry"
)

// stages builds every stage and checks where each stands by the
// placement its kind declares (Terminal, Unique, Routes), the same for
// every kind: the compiler names none. Placement is checked before the
// value is built, so it is reported even for a stage whose value has
// problems.
func (c *compiler) stages(f *dsl.Flow, out *Flow) {
	first := map[string]*dsl.Stage{} // of each Unique kind
	routed := false
	for i, s := range f.Stages {
		spec, ok := registry.LookupStage(s.Kind)
		if !ok {
			names := registry.Names(registry.Stages())
			c.ds.Add(diag.Diagnostic{Pos: s.At.Pos, Path: s.Value.Path,
				Message: fmt.Sprintf("unknown stage kind %q%s (available: %v)", s.Kind, diag.DidYouMean(s.Kind, names), names)})
			continue
		}
		if !c.placed(f, spec, s, i, first) {
			continue
		}
		routed = routed || spec.Routes
		v, ok := c.decode(s.Value, spec.Value)
		if !ok {
			continue
		}
		built, err := spec.Build(&registry.Build{Flow: f.Name, Stage: s.Name, Sinks: c.sinks}, v)
		if err != nil {
			c.buildError(s.Value, err)
			continue
		}
		if spec.ReadsPayload {
			out.NeedsPayload, c.wholePayload = true, true
		}
		c.add(out, spec, s, built)
	}
	if len(f.Sinks) > 1 && !routed {
		c.errorf(f.Root.Get("sinks"), "with several sinks, add a %s stage to choose one per message", routingKinds())
	}
}

// placed reports a stage that stands where its kind may not; false when
// building it would only repeat the problem.
func (c *compiler) placed(f *dsl.Flow, spec *registry.StageSpec, s *dsl.Stage, i int, first map[string]*dsl.Stage) bool {
	extra := false // a second stage of a Unique kind: that says it all
	if spec.Unique {
		if prev := first[s.Kind]; prev != nil {
			c.errorf(s.At, "only one %s stage per flow (the first is at line %d)", s.Kind, prev.At.Pos.Line)
			extra = true
		} else {
			first[s.Kind] = s
		}
	}
	if spec.Terminal != "" && !extra && i != len(f.Stages)-1 {
		c.errorf(s.At, "%s must be the last stage: %s", s.Kind, spec.Terminal)
	}
	if spec.Routes && f.Sinks == nil {
		c.errorf(s.At, "%s sends messages to named sinks: declare them under `sinks:` instead of `sink:`", s.Kind)
		return false // its sink names cannot resolve
	}
	return true
}

// add puts what a stage built into the plan: a step, or the batch node.
func (c *compiler) add(out *Flow, spec *registry.StageSpec, s *dsl.Stage, b registry.Built) {
	switch {
	case b.Step != nil && b.Batch == nil:
		out.Steps = append(out.Steps, &Step{Name: s.Name, Kind: s.Kind, Step: b.Step})
		out.Routes = append(out.Routes, b.Routes...)
	case b.Batch != nil && b.Step == nil:
		// The graph has one batch node, after every step: a kind that
		// could stand elsewhere or twice would be run out of its order.
		if spec.Terminal == "" || !spec.Unique {
			c.errorf(s.At, "stage kind %q builds a batch node but is not declared Terminal and Unique", s.Kind)
			return
		}
		if isFixedNode(s.Name) { // the node is named by the stage
			c.errorf(s.At, "a %s stage cannot be named %q: the graph has a %s node; choose another name", s.Kind, s.Name, s.Name)
			return
		}
		if b.Batch.Reduce != nil { // batch is the payloads
			out.NeedsPayload, c.wholePayload = true, true
		}
		out.Batch = &Batch{Name: s.Name, Plan: b.Batch}
	default:
		c.errorf(s.At, "stage kind %q must build exactly one of a step or a batch node", s.Kind)
	}
}

// routingKinds names the stage kinds that route ("route"), for the
// diagnostic of a flow with several sinks and none of them.
func routingKinds() string {
	var names []string
	for _, s := range registry.Stages() {
		if s.Routes {
			names = append(names, s.Name)
		}
	}
	return strings.Join(names, " or ")
}
