package compiler

import (
	"fmt"
	"strings"
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

// Edge connects two nodes.
type Edge struct{ From, To string }

// buildGraph draws a compiled flow whose node ids are assigned.
func buildGraph(f *Flow) *Graph {
	g := &Graph{}
	g.Nodes = append(g.Nodes, &Node{ID: f.Source.NodeID, Kind: "source", Label: f.Source.Kind})
	proc := &Node{ID: ProcessorsNodeID, Kind: "processors", Label: fmt.Sprintf("%d processors, max_demand %d", f.Concurrency, f.MaxDemand)}
	for _, s := range f.Steps {
		proc.Stages = append(proc.Stages, s.Name+" ("+s.Kind+")")
	}
	g.Nodes = append(g.Nodes, proc)
	g.Edges = append(g.Edges, Edge{f.Source.NodeID, proc.ID})
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
		g.Edges = append(g.Edges, Edge{proc.ID, f.Batch.NodeID})
		last = f.Batch.NodeID
	}
	for _, s := range f.Sinks {
		g.Nodes = append(g.Nodes, &Node{ID: s.NodeID, Kind: "sink", Label: s.Kind})
		g.Edges = append(g.Edges, Edge{last, s.NodeID})
	}
	if f.DeadLetter != nil {
		g.Nodes = append(g.Nodes, &Node{ID: f.DeadLetter.NodeID, Kind: "dead_letter", Label: f.DeadLetter.Kind})
		g.Edges = append(g.Edges, Edge{proc.ID, f.DeadLetter.NodeID})
	}
	return g
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
		style := ""
		if e.To == DeadLetterNodeID {
			style = " [style=dashed]"
		}
		fmt.Fprintf(&b, "  %q -> %q%s;\n", e.From, e.To, style)
	}
	b.WriteString("}\n")
	return b.String()
}

func mermaidID(id string) string {
	return strings.NewReplacer(":", "_", "-", "_").Replace(id)
}
