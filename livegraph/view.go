package livegraph

import (
	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/runtime"
)

// View is /graph.json: the flow's graph with each edge's and stage's
// figures, rates over the last interval (about a second).
type View struct {
	Flow     string     `json:"flow"`
	Ready    bool       `json:"ready"`
	Interval float64    `json:"interval_seconds"` // what the rates are measured over
	Totals   Totals     `json:"totals"`
	Nodes    []NodeView `json:"nodes"`
	Edges    []EdgeView `json:"edges"`
}

// Totals are the run's counts so far (the summary line's).
type Totals struct {
	In           int64 `json:"in"`
	Out          int64 `json:"out"`
	Filtered     int64 `json:"filtered"`
	DeadLettered int64 `json:"dead_lettered"`
	Nacked       int64 `json:"nacked"`
	Discarded    int64 `json:"discarded"`
	Lost         int64 `json:"lost"`
}

// NodeView is one node: the source, the processors (with their stages
// and open demand), a batcher, a sink, the dead letter.
type NodeView struct {
	ID       string      `json:"id"`
	Kind     string      `json:"kind"`
	Label    string      `json:"label"`
	Stages   []StageView `json:"stages,omitempty"`
	Demand   *Demand     `json:"demand,omitempty"`
	Failures float64     `json:"failures"` // failed attempts of the node's own work (a batch's key, a sink's writes)
}

// StageView is one per-message stage inside the processors.
type StageView struct {
	Name     string  `json:"name"`
	Kind     string  `json:"kind"`
	Rate     float64 `json:"rate"`     // messages per second it handled
	Busy     float64 `json:"busy"`     // seconds spent in it per second, over all processors
	Failures float64 `json:"failures"` // failed attempts so far
}

// Demand is the processors' open demand: messages asked of the source
// and not yet received, out of concurrency x max_demand.
type Demand struct {
	Open  float64 `json:"open"`
	Total float64 `json:"total"`
}

// EdgeView is one edge's telemetry.
type EdgeView struct {
	From     string  `json:"from"`
	To       string  `json:"to"`
	Label    string  `json:"label,omitempty"` // route condition, sink target
	Rate     float64 `json:"rate"`            // messages per second
	Messages float64 `json:"messages"`        // so far
	Buffered float64 `json:"buffered"`
	Capacity float64 `json:"capacity"`
	Blocked  float64 `json:"blocked"`  // seconds the sender waited on it, so far
	Blocking float64 `json:"blocking"` // of each second, how much the sender waited (0..concurrency)
}

// view builds the View from two samples of the metrics.
func view(f *compiler.Flow, p *runtime.Pipeline, prev, cur *sample) View {
	dt := cur.at.Sub(prev.at).Seconds()
	rate := func(k key) float64 {
		if dt <= 0 {
			return 0
		}
		return max(0, cur.v[k]-prev.v[k]) / dt
	}
	s := p.Progress()
	v := View{Flow: f.Name, Ready: p.Ready(), Interval: dt,
		Totals: Totals{In: s.In, Out: s.Out, Filtered: s.Filtered, DeadLettered: s.DeadLettered,
			Nacked: s.Nacked, Discarded: s.Discarded, Lost: s.Lost}}
	for _, n := range f.Graph.Nodes {
		nv := NodeView{ID: n.ID, Kind: n.Kind, Label: n.Label, Failures: cur.v[key{name: stageErrors, a: n.ID}]}
		if n.Kind == "processors" {
			nv.Demand = &Demand{Open: cur.v[key{name: stageDemand, a: n.ID}], Total: float64(f.Concurrency * f.MaxDemand)}
			for _, st := range f.Steps {
				nv.Stages = append(nv.Stages, StageView{Name: st.Name, Kind: st.Kind,
					Rate:     rate(key{name: stageCount, a: st.Name}),
					Busy:     rate(key{name: stageSeconds, a: st.Name}),
					Failures: cur.v[key{name: stageErrors, a: st.Name}]})
			}
		}
		v.Nodes = append(v.Nodes, nv)
	}
	for _, e := range f.Graph.Edges {
		k := func(name string) key { return key{name: name, a: e.From, b: e.To} }
		v.Edges = append(v.Edges, EdgeView{From: e.From, To: e.To, Label: e.Label,
			Rate: rate(k(edgeMessages)), Messages: cur.v[k(edgeMessages)],
			Buffered: cur.v[k(edgeBuffered)], Capacity: cur.v[k(edgeCapacity)],
			Blocked: cur.v[k(edgeBlocked)], Blocking: rate(k(edgeBlocked))})
	}
	return v
}
