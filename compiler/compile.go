package compiler

import (
	"errors"
	"fmt"
	"runtime"
	"slices"

	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

type compiler struct {
	ds       diag.List
	programs []*expression.Program
	sinks    []string
	// wholePayload: a stage's Go code or a reduce reads the payload,
	// so it must be decoded whole (not as message.Fields).
	wholePayload bool
}

func (c *compiler) errorf(n *dsl.Node, format string, args ...any) {
	c.ds.Add(n.Errorf(format, args...))
}

// CompileFile parses and compiles a flow file.
func CompileFile(path string) (*Flow, diag.List) {
	f, ds := dsl.ParseFile(path)
	if f == nil {
		return nil, ds
	}
	flow, cds := Compile(f)
	ds = append(ds, cds...)
	ds.Sort()
	if len(ds) > 0 {
		return nil, ds
	}
	return flow, nil
}

// Compile checks and compiles a parsed flow. The Flow is nil when any
// problem was found; all problems are returned. Given a flow that dsl.Parse
// reported problems for, it checks what it can and returns a nil Flow
// (the problems dsl.Parse found are not repeated).
func Compile(f *dsl.Flow) (*Flow, diag.List) {
	c := &compiler{}
	out := &Flow{Name: f.Name, File: f.File, Description: f.Description,
		Concurrency: runtime.NumCPU(), MaxDemand: DefaultMaxDemand, MaxMessageBytes: DefaultMaxMessageBytes,
		MaxInFlightBytes: DefaultMaxInFlightBytes}
	if f.Concurrency != nil {
		out.Concurrency = f.Concurrency.Value
	}
	if f.MaxDemand != nil {
		out.MaxDemand = f.MaxDemand.Value
	}
	if f.MaxMessageBytes != nil {
		out.MaxMessageBytes = f.MaxMessageBytes.Value
	}
	if f.MaxInFlightBytes != nil {
		out.MaxInFlightBytes = f.MaxInFlightBytes.Value
	}
	if f.PartitionBy != nil {
		out.PartitionBy = c.expr(f.PartitionBy, expression.MessageScope)
	}

	if f.Sink != nil {
		c.sinks = []string{"sink"}
	}
	for _, s := range f.Sinks {
		c.sinks = append(c.sinks, s.Name)
	}
	if f.Source != nil {
		out.Source = c.connector(f.Source, true, message.JSON)
	}
	for _, m := range f.Middleware {
		if mw := c.middleware(f, m); mw != nil {
			out.Middleware = append(out.Middleware, mw)
		}
	}
	c.stages(f, out)
	// A sink encodes with the source's codec unless it names its own: a
	// text flow writes its strings as they are, not as JSON strings.
	sinkCodec := message.JSON
	if out.Source != nil {
		sinkCodec = out.Source.Codec
	}
	if f.Sink != nil {
		if s := c.connector(f.Sink, false, sinkCodec); s != nil {
			out.Sinks = append(out.Sinks, s)
		}
	}
	for _, s := range f.Sinks {
		if s := c.connector(s, false, sinkCodec); s != nil {
			out.Sinks = append(out.Sinks, s)
		}
	}
	if f.DeadLetter != nil {
		out.DeadLetter = c.connector(f.DeadLetter, false, sinkCodec)
	}
	for _, p := range c.programs {
		if p.Scope == expression.MessageScope && p.UsesPayload() {
			out.NeedsPayload = true
		}
	}
	if out.Source != nil && out.Source.Codec == message.JSON && out.NeedsPayload && !c.wholePayload {
		out.PayloadFields = payloadFields(c.programs)
	}
	// A flow without source or sink had parse problems (dsl.Parse reports
	// them); there is nothing to build.
	if len(c.ds) > 0 || out.Source == nil || len(out.Sinks) == 0 {
		return nil, c.ds
	}
	assignNodeIDs(out)
	out.Graph = buildGraph(out)
	out.Warnings = warnings(out)
	return out, nil
}

// warnings are what validate reports about a valid flow that may not do
// what its author expects.
func warnings(f *Flow) diag.List {
	var ws diag.List
	if f.Source.Spec.Redelivers && f.DeadLetter == nil {
		ws.Add(diag.Diagnostic{Pos: f.Source.Pos, Path: "source." + f.Source.Kind, Warning: true,
			Message: "the flow has no dead_letter: a message a sink keeps failing is redelivered by the source again and again " +
				"(holding up its partition), and one that fails for good (a payload that does not decode) is discarded and counted as lost; " +
				"add a dead_letter to keep failed messages"})
	}
	return append(ws, fieldWarnings(f)...)
}

// connector checks one connector against its spec; codec is its codec
// when the flow file names none.
func (c *compiler) connector(dc *dsl.Connector, source bool, codec message.Codec) *Connector {
	spec, ok := registry.LookupConnector(dc.Kind)
	role := "sink"
	if source {
		role = "source"
	}
	if !ok || source && spec.Source == nil || !source && spec.Sink == nil {
		var names []string
		for _, s := range registry.Connectors() {
			if source && s.Source != nil || !source && s.Sink != nil {
				names = append(names, s.Name)
			}
		}
		msg := fmt.Sprintf("unknown %s connector %q%s (available: %v)", role, dc.Kind, diag.DidYouMean(dc.Kind, names), names)
		if ok {
			msg = fmt.Sprintf("connector %q cannot be a %s (%ss: %v)", dc.Kind, role, role, names)
		}
		c.ds.Add(diag.Diagnostic{Pos: kindPos(dc), Path: dc.KindAt.Path, Message: msg})
		return nil
	}
	fields := spec.SinkFields
	if source {
		fields = spec.SourceFields
	}
	v, ok := c.decode(dc.Config, registry.Field{Type: registry.Object, Fields: fields})
	if !ok {
		return nil
	}
	check := spec.ValidateSink
	if source {
		check = spec.ValidateSource
	}
	if check != nil {
		if err := check(v.(registry.Config)); err != nil {
			c.buildError(dc.Config, err)
			return nil
		}
	}
	if dc.Codec != nil {
		var err error
		if codec, err = message.ParseCodec(dc.Codec.Value); err != nil || dc.Codec.Kind != dsl.Scalar {
			c.errorf(dc.Codec, "unknown codec %q; use json, text or bytes%s", dc.Codec.Value, diag.DidYouMean(dc.Codec.Value, message.Codecs))
			return nil
		}
	}
	return &Connector{Pos: kindPos(dc), Role: dc.Name, Kind: dc.Kind, Spec: spec, Config: v.(registry.Config), Codec: codec}
}

// kindPos is where a connector's kind key is written.
func kindPos(dc *dsl.Connector) diag.Pos {
	for _, f := range dc.At.Fields {
		if f.Key == dc.Kind {
			return f.KeyAt
		}
	}
	return dc.At.Pos
}

func (c *compiler) middleware(f *dsl.Flow, m *dsl.Item) *registry.Middleware {
	spec, ok := registry.LookupMiddleware(m.Kind)
	if !ok {
		names := registry.Names(registry.Middlewares())
		c.ds.Add(diag.Diagnostic{Pos: m.At.Pos, Path: m.At.Path,
			Message: fmt.Sprintf("unknown middleware %q%s (available: %v)", m.Kind, diag.DidYouMean(m.Kind, names), names)})
		return nil
	}
	v, ok := c.decode(m.Value, spec.Value)
	if !ok {
		return nil
	}
	mw, err := spec.Build(&registry.Build{Flow: f.Name, Stage: m.Kind, Sinks: c.sinks}, v)
	if err != nil {
		c.buildError(m.Value, err)
		return nil
	}
	mw.Name = m.Kind
	return mw
}

// buildError places a spec Build error, using its PathError path when
// given; each error of a joined error is placed on its own.
func (c *compiler) buildError(n *dsl.Node, err error) {
	if joined, ok := err.(interface{ Unwrap() []error }); ok {
		for _, e := range joined.Unwrap() {
			c.buildError(n, e)
		}
		return
	}
	var pe *registry.PathError
	if errors.As(err, &pe) {
	walk:
		for _, step := range pe.Path {
			var next *dsl.Node
			switch k := step.(type) {
			case int:
				if n.Kind == dsl.List && k >= 0 && k < len(n.Items) {
					next = n.Items[k]
				}
			case string:
				next = n.Get(k)
			}
			if next == nil {
				break walk
			}
			n = next
		}
	}
	c.errorf(n, "%v", err)
}

// payloadFields is the top-level payload fields the flow's expressions
// read, when every one of them reads the payload only by field name and
// runs as closures; nil (decode the whole payload) otherwise.
func payloadFields(programs []*expression.Program) []string {
	var names []string
	for _, p := range programs {
		if p.Scope != expression.MessageScope {
			continue
		}
		fields, ok := p.PayloadFields()
		if !ok {
			return nil
		}
		for _, f := range fields {
			if !slices.Contains(names, f) {
				names = append(names, f)
			}
		}
	}
	slices.Sort(names)
	return names
}
