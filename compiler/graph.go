package compiler

import (
	"fmt"
	"net/url"
	"strings"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/registry"
)

// Graph is the compiled flow as nodes and edges. Edges are where the
// runtime has bounded buffers and so where telemetry is measured; the
// per-message stages run inside the processors node.
type Graph struct {
	Nodes []*Node
	Edges []Edge
}

// Node is one node of the graph.
type Node struct {
	ID     string // also the from/to label of edge metrics
	Kind   string // source, processors, batch, sink, dead_letter
	Label  string // e.g. "file" or "batch size 50"
	Stages []string
}

// Edge connects two nodes. Label, when set, says which messages take
// it (a route's conditions).
type Edge struct{ From, To, Label string }

// buildGraph draws a compiled flow whose node ids are assigned.
func buildGraph(f *Flow) *Graph {
	g := &Graph{}
	g.Nodes = append(g.Nodes, &Node{ID: f.Source.NodeID, Kind: "source", Label: connectorLabel(f.Source, true)})
	proc := &Node{ID: ProcessorsNodeID, Kind: "processors", Label: fmt.Sprintf("%d processors, max_demand %d", f.Concurrency, f.MaxDemand)}
	for _, s := range f.Steps {
		proc.Stages = append(proc.Stages, s.Name+" ("+s.Kind+")")
	}
	g.Nodes = append(g.Nodes, proc)
	g.Edges = append(g.Edges, Edge{From: f.Source.NodeID, To: proc.ID})
	last := proc.ID
	if f.Batch != nil {
		label := fmt.Sprintf("batch size %d, timeout %s", f.Batch.Plan.Size, f.Batch.Plan.Timeout)
		if f.Batch.Plan.Key != nil {
			label += ", key " + f.Batch.Plan.Key.Source
		}
		if f.Batch.Plan.Reduce != nil {
			label += ", reduce"
		}
		g.Nodes = append(g.Nodes, &Node{ID: f.Batch.NodeID, Kind: "batch", Label: label})
		g.Edges = append(g.Edges, Edge{From: proc.ID, To: f.Batch.NodeID})
		last = f.Batch.NodeID
	}
	for i, s := range f.Sinks {
		g.Nodes = append(g.Nodes, &Node{ID: s.NodeID, Kind: "sink", Label: connectorLabel(s, false)})
		g.Edges = append(g.Edges, Edge{From: last, To: s.NodeID, Label: routeLabel(f.Routes, i)})
	}
	if f.DeadLetter != nil {
		g.Nodes = append(g.Nodes, &Node{ID: f.DeadLetter.NodeID, Kind: "dead_letter", Label: connectorLabel(f.DeadLetter, false)})
		g.Edges = append(g.Edges, Edge{From: proc.ID, To: f.DeadLetter.NodeID})
	}
	return g
}

// connectorLabel is a connector's kind and where it reads or writes,
// from the fields its spec marks Target: "kafka orders".
func connectorLabel(c *Connector, source bool) string {
	fields := c.Spec.SinkFields
	if source {
		fields = c.Spec.SourceFields
	}
	label := c.Kind
	for _, fd := range fields {
		if !fd.Target || fd.Secret {
			continue
		}
		switch v := c.Config[fd.Name].(type) {
		case string:
			if u, err := url.Parse(v); err == nil && u.Scheme != "" && u.Host != "" {
				// Only where it goes: a URL's userinfo, path (a Slack
				// webhook's) or query may hold a secret.
				v = u.Scheme + "://" + u.Host
			}
			if v != "" {
				label += " " + v
			}
		case *expression.Program:
			label += " " + v.Source
		case []any:
			for _, e := range v {
				label += fmt.Sprint(" ", e)
			}
		}
	}
	return label
}

// routeLabel is the rules that send messages to sink i, numbered in the
// order they are tried (the first match wins): "1: cond", "default";
// "" without a route.
func routeLabel(rules []registry.RouteRule, sink int) string {
	var parts []string
	for n, r := range rules {
		if r.Sink != sink {
			continue
		}
		if r.When == "" {
			parts = append(parts, "default")
			continue
		}
		parts = append(parts, fmt.Sprintf("%d: %s", n+1, r.When))
	}
	return strings.Join(parts, " or ")
}

// Mermaid renders the graph as a Mermaid flowchart.
func (g *Graph) Mermaid() string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	for _, n := range g.Nodes {
		label := n.ID + "<br/>" + n.Label
		for _, s := range n.Stages {
			label += "<br/>• " + s
		}
		fmt.Fprintf(&b, "  %s[\"%s\"]\n", mermaidID(n.ID), strings.ReplaceAll(label, `"`, "#quot;"))
	}
	for _, e := range g.Edges {
		arrow := "-->"
		if e.To == DeadLetterNodeID {
			arrow = "-.->"
		}
		if e.Label != "" {
			arrow += "|\"" + strings.ReplaceAll(e.Label, `"`, "#quot;") + "\"|"
		}
		fmt.Fprintf(&b, "  %s %s %s\n", mermaidID(e.From), arrow, mermaidID(e.To))
	}
	return b.String()
}

// DOT renders the graph in Graphviz DOT.
func (g *Graph) DOT() string {
	var b strings.Builder
	b.WriteString("digraph flow {\n  rankdir=LR;\n  node [shape=box];\n")
	for _, n := range g.Nodes {
		label := n.ID + "\\n" + n.Label
		for _, s := range n.Stages {
			label += "\\n- " + s
		}
		fmt.Fprintf(&b, "  %q [label=\"%s\"];\n", n.ID, strings.ReplaceAll(label, `"`, `\"`))
	}
	for _, e := range g.Edges {
		var attrs []string
		if e.To == DeadLetterNodeID {
			attrs = append(attrs, "style=dashed")
		}
		if e.Label != "" {
			attrs = append(attrs, fmt.Sprintf("label=%q", e.Label))
		}
		style := ""
		if len(attrs) > 0 {
			style = " [" + strings.Join(attrs, ", ") + "]"
		}
		fmt.Fprintf(&b, "  %q -> %q%s;\n", e.From, e.To, style)
	}
	b.WriteString("}\n")
	return b.String()
}

func mermaidID(id string) string {
	return strings.NewReplacer(":", "_", "-", "_").Replace(id)
}
