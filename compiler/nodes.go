package compiler

import "slices"

// The ids of the graph's fixed nodes. A node id names a node of Graph
// and labels the edge metrics (from, to) and the runtime's events.
const (
	SourceNodeID     = "source"
	ProcessorsNodeID = "processors"
	DeadLetterNodeID = "dead_letter"
	sinkNodeID       = "sink" // the one sink of a flow with sink:
)

// fixedNodeIDs are the ids a stage's own node (named by the stage) must
// not take, or two nodes and their edge metrics would merge. Named sinks
// ("sink:NAME") cannot clash: a stage name has no colon.
var fixedNodeIDs = []string{SourceNodeID, ProcessorsNodeID, sinkNodeID, DeadLetterNodeID}

func isFixedNode(id string) bool { return slices.Contains(fixedNodeIDs, id) }

// assignNodeIDs names every node of a compiled flow: the one place ids
// are chosen. buildGraph and the runtime only read them.
func assignNodeIDs(f *Flow) {
	f.Source.NodeID = SourceNodeID
	for _, s := range f.Sinks {
		s.NodeID = sinkNodeID
		if s.Role != "sink" { // named under sinks:
			s.NodeID = sinkNodeID + ":" + s.Role
		}
	}
	if f.DeadLetter != nil {
		f.DeadLetter.NodeID = DeadLetterNodeID
	}
	if f.Batch != nil {
		f.Batch.NodeID = f.Batch.Name // checked against fixedNodeIDs when built
	}
}
