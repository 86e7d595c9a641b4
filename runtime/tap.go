package runtime

import (
	"sync/atomic"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/message"
)

// Tap receives the messages that cross the flow's edges and leave its
// named stages, while it is attached (Pipeline.SetTap). Sample is called
// synchronously from the runtime's goroutines, which own msgs: it must
// not block, must not modify msgs nor keep them after it returns (copy
// what it needs), and must be safe for concurrent use.
type Tap interface {
	Sample(at *TapPoint, msgs []*message.Message)
}

// TapPoint is where messages are sampled: an edge of the graph (From
// and To are node ids) or the output of a per-message stage (Stage is
// its name, From too, and To the next stage or node).
type TapPoint struct {
	From, To string
	Stage    string
	// Sink is the name of the sink an edge goes into ("sink" for the
	// flow's one sink:), else "".
	Sink string
	// DeadLetter marks the edge to the dead letter.
	DeadLetter bool
	// Codec encodes a message whose payload changed and that has no Body
	// yet (stage outputs, the edge to the batcher).
	Codec message.Codec
}

// Edge names the point as "from->to".
func (t *TapPoint) Edge() string { return t.From + "->" + t.To }

// tapSlot holds the attached Tap, or nil. Without one, the hot path
// pays one atomic load per chunk sent on an edge and per chunk a
// processor takes.
type tapSlot struct{ p atomic.Pointer[tapBox] }

type tapBox struct{ t Tap }

func (s *tapSlot) load() Tap {
	if b := s.p.Load(); b != nil {
		return b.t
	}
	return nil
}

// SetTap attaches t (nil detaches it). It may be called at any time,
// from any goroutine, before or while the pipeline runs.
func (p *Pipeline) SetTap(t Tap) {
	if t == nil {
		p.tap.p.Store(nil)
		return
	}
	p.tap.p.Store(&tapBox{t: t})
}

// TapPoints lists the points a Tap can sample, in flow order: the edge
// from the source, each stage's output, the edges to the batcher, the
// sinks and the dead letter.
func (p *Pipeline) TapPoints() []*TapPoint {
	p.pointsOnce()
	return p.points
}

// pointsOnce builds the tap points from the compiled flow, once.
func (p *Pipeline) pointsOnce() {
	p.pointsInit.Do(func() {
		f := p.flow
		codec := f.Source.Codec
		add := func(tp *TapPoint) *TapPoint { p.points = append(p.points, tp); return tp }
		add(&TapPoint{From: f.Source.NodeID, To: compiler.ProcessorsNodeID, Codec: codec})
		last, next := compiler.ProcessorsNodeID, "sinks" // the node after the stages: the batcher, or the sink(s)
		if len(f.Sinks) == 1 {
			next = f.Sinks[0].NodeID
		}
		if f.Batch != nil {
			last, next = f.Batch.NodeID, f.Batch.NodeID
		}
		p.stagePoints = make([]*TapPoint, len(f.Steps))
		for i, s := range f.Steps {
			to := next
			if i+1 < len(f.Steps) {
				to = f.Steps[i+1].Name
			}
			p.stagePoints[i] = add(&TapPoint{From: s.Name, To: to, Stage: s.Name, Codec: codec})
		}
		if f.Batch != nil {
			add(&TapPoint{From: compiler.ProcessorsNodeID, To: f.Batch.NodeID, Codec: codec})
		}
		for _, s := range f.Sinks {
			add(&TapPoint{From: last, To: s.NodeID, Sink: s.Role, Codec: s.Codec})
		}
		if d := f.DeadLetter; d != nil {
			add(&TapPoint{From: compiler.ProcessorsNodeID, To: d.NodeID, DeadLetter: true, Codec: d.Codec})
		}
	})
}

// pointOf finds the point of an edge.
func (p *Pipeline) pointOf(from, to string) *TapPoint {
	for _, tp := range p.TapPoints() {
		if tp.Stage == "" && tp.From == from && tp.To == to {
			return tp
		}
	}
	return &TapPoint{From: from, To: to, Codec: p.flow.Source.Codec}
}
