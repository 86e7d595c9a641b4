package flowtest

import (
	"fmt"
	"maps"
	"strings"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
)

// condition is a compiled expect.conditions entry.
type condition struct {
	idx  int // in Expect.Conditions
	prog *expression.Program
}

// checkExpect checks the expectations against the flow (sink names, a
// dead letter to expect) and compiles the conditions.
func checkExpect(t *Test, f *compiler.Flow) ([]condition, diag.List) {
	var ds diag.List
	var names []string
	for _, c := range f.Sinks {
		names = append(names, c.Role)
	}
	for _, o := range t.Expect.Outputs {
		if !contains(names, o.Sink) {
			ds.Add(diag.Diagnostic{Pos: o.At.Pos, Path: o.At.Path, Message: fmt.Sprintf("the flow has no sink %q%s (its sinks: %s)",
				o.Sink, diag.DidYouMean(o.Sink, names), strings.Join(names, ", "))})
		}
	}
	if d := t.Expect.DeadLetter; d != nil && f.DeadLetter == nil {
		ds.Add(d.At.Errorf("the flow has no dead_letter: its failures are nacked or discarded; expect nacked: or discarded: counts"))
	}
	var conds []condition
	for i, n := range t.Expect.Conditions {
		p, cds := compiler.CompileExpression(n, expression.MessageScope)
		ds = append(ds, cds...)
		if p != nil {
			conds = append(conds, condition{idx: i, prog: p})
		}
	}
	return conds, ds
}

// compare checks what the run produced against the test's expectations.
func compare(t *Test, g *Got, conds []condition) diag.List {
	var ds diag.List
	codecs := map[string]message.Codec{}
	for _, c := range g.Flow.Sinks {
		codecs[c.Role] = c.Codec
	}
	for _, o := range t.Expect.Outputs {
		if d, ok := compareList(o, g.Outputs[o.Sink], codecs[o.Sink], false, t.Expect.Ordered); !ok {
			ds.Add(d)
		}
	}
	if d := t.Expect.DeadLetter; d != nil {
		if dd, ok := compareList(d, g.DeadLetter, g.Flow.Source.Codec, true, t.Expect.Ordered); !ok {
			ds.Add(dd)
		}
	}
	for _, c := range t.Expect.Counts {
		var n int64
		switch c.Name {
		case "filtered":
			n = g.Summary.Filtered
		case "nacked":
			n = g.Summary.Nacked
		case "discarded":
			n = g.Summary.Discarded
		}
		if n != c.Want {
			ds.Add(c.At.Errorf("%s: expected %d, got %d", c.Name, c.Want, n))
		}
	}
	if len(conds) > 0 && len(t.Expect.Outputs) == 0 && outputs(g) == 0 {
		// Conditions hold for every one of no outputs: say so, unless the
		// test pins that there are none.
		n := t.Expect.Conditions[0]
		ds.Add(diag.Diagnostic{Pos: n.Pos, Path: n.Path, Message: "no output to check the conditions on: the flow sent nothing " +
			"to its sinks (expect outputs: {SINK: []} if none is right)"})
		return ds
	}
	for _, c := range conds {
		ds = append(ds, checkCondition(t, g, c)...)
	}
	return ds
}

// outputs counts the messages every sink received.
func outputs(g *Got) int {
	n := 0
	for _, o := range g.Outputs {
		n += len(o)
	}
	return n
}

// fields says which parts of a sink's messages are compared: the
// payload always; the key, metadata and error stage when any expected
// message of that sink gives them (the others then expect none).
type fields struct{ key, meta, stage, dead bool }

func fieldsOf(e *Expected, dead bool) fields {
	f := fields{dead: dead}
	for _, m := range e.Msgs {
		f.key = f.key || m.Key != nil
		f.meta = f.meta || m.Meta != nil
		f.stage = f.stage || m.ErrorStage != nil
	}
	return f
}

// deadMeta are the entries the runtime adds to a dead-lettered message.
var deadMeta = []string{"error", "error_stage", "flow", "attempts"}

// gotLine renders a received message as one line of JSON with the
// compared fields; errText is the error of a dead-lettered message.
func gotLine(m got, codec message.Codec, f fields) (line, errText string) {
	obj := map[string]any{}
	putBody(obj, m.Body, codec)
	meta := maps.Clone(m.Meta)
	if f.dead {
		errText = meta["error"]
		if f.stage {
			obj["error_stage"] = meta["error_stage"]
		}
		for _, k := range deadMeta {
			delete(meta, k)
		}
	}
	if f.key {
		obj["key"] = m.Key
	}
	if f.meta {
		if meta == nil {
			meta = map[string]string{}
		}
		obj["meta"] = meta
	}
	return compact(obj), errText
}

func putBody(obj map[string]any, body []byte, codec message.Codec) {
	if codec == message.JSON {
		if v, ok := canonical(body); ok {
			obj["payload"] = v
			return
		}
	}
	obj["raw"] = string(body)
}

// wantLine renders an expected message as gotLine renders a received one.
func wantLine(m *ExpMsg, codec message.Codec, f fields) (string, error) {
	obj := map[string]any{}
	if m.Raw != nil {
		putBody(obj, []byte(*m.Raw), codec)
	} else {
		raw, err := payloadBytes(m.Payload, codec)
		if err != nil {
			return "", err
		}
		putBody(obj, raw, codec)
	}
	if f.stage {
		obj["error_stage"] = deref(m.ErrorStage)
	}
	if f.key {
		obj["key"] = deref(m.Key)
	}
	if f.meta {
		meta := m.Meta
		if meta == nil {
			meta = map[string]string{}
		}
		obj["meta"] = meta
	}
	return compact(obj), nil
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}
