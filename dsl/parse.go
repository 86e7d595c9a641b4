package dsl

import (
	"bytes"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/flowrun/flowrun/diag"
	"gopkg.in/yaml.v3"
)

// TopLevelKeys are the keys a flow file may have, in documentation order.
var TopLevelKeys = []string{
	"version", "name", "description", "source", "concurrency", "max_demand",
	"max_message_bytes", "max_in_flight_bytes", "partition_by", "middleware", "stages", "sink", "sinks", "dead_letter",
}

// ConnectorCommonKeys are the keys a connector map may have besides its kind.
var ConnectorCommonKeys = []string{"codec"}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// ParseFile reads and parses a flow file, interpolating from the process environment.
func ParseFile(path string) (*Flow, diag.List) {
	if info, err := os.Stat(path); err == nil && info.Size() > MaxFlowBytes {
		return nil, diag.List{tooBig(path, info.Size())}
	}
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, diag.List{{Pos: diag.Pos{File: path}, Message: fmt.Sprintf("cannot read flow file: %v", err)}}
	}
	return Parse(path, src, nil)
}

// Parse parses one flow file. env looks up ${VAR}s (nil: the process
// environment). It returns the AST (possibly partial) and every problem found.
func Parse(file string, src []byte, env Lookup) (*Flow, diag.List) {
	var ds diag.List
	if len(src) > MaxFlowBytes {
		return nil, diag.List{tooBig(file, int64(len(src)))}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, diag.List{yamlError(file, src, err)}
	}
	c := &converter{file: file, lines: strings.Split(string(src), "\n"), env: env, ds: &ds}
	root := c.convert(&doc, "")
	if c.nodes > maxNodes {
		return nil, ds // what follows from the cut-off values would only be noise
	}
	f := &Flow{File: file, Root: root}
	if root.Kind != Map {
		pos := root.Pos
		if len(doc.Content) == 1 && doc.Content[0].Tag == "!!null" && doc.Content[0].Value == "" {
			// An empty document ("---" alone): yaml.v3 puts its null on
			// the line after the marker, past the end of the file.
			pos.Line, pos.Col = doc.Line, doc.Column
		}
		ds.Add(diag.Diagnostic{Pos: pos, Message: "a flow file must be a YAML map with version, name, source, stages and sink"})
		return f, ds
	}
	p := parser{ds: &ds}
	p.checkKeys(root, TopLevelKeys)

	if v := root.Get("version"); v == nil {
		p.errorf(root, "version is required; add `version: 1`")
	} else if n, ok := p.int(v); ok && n != 1 {
		p.errorf(v, "unsupported version %d; this flowrun reads version 1", n)
	} else {
		f.Version = n
	}
	if v := root.Get("name"); v == nil {
		p.errorf(root, "name is required: the flow's name, the `flow` label of every metric")
	} else if s, ok := p.str(v); ok {
		f.Name, f.NameAt = s, v
		if !nameRE.MatchString(s) {
			p.errorf(v, "name %q must match [a-z0-9][a-z0-9_-]* (lower case, digits, _ and -)", s)
		}
	}
	if v := root.Get("description"); v != nil {
		f.Description, _ = p.str(v)
	}
	f.Concurrency = p.positive(root.Get("concurrency"))
	f.MaxDemand = p.positive(root.Get("max_demand"))
	f.MaxMessageBytes = p.positive(root.Get("max_message_bytes"))
	f.MaxInFlightBytes = p.positive(root.Get("max_in_flight_bytes"))
	if v := root.Get("partition_by"); v != nil {
		if _, ok := p.str(v); ok {
			f.PartitionBy = v
		}
	}

	if v := root.Get("source"); v == nil {
		p.errorf(root, "source is required: exactly one connector, e.g. `source: {file: {path: in.jsonl}}`")
	} else {
		f.Source = p.connector(v, "source")
	}
	if v := root.Get("middleware"); v != nil {
		f.Middleware = p.middleware(v)
	}
	if v := root.Get("stages"); v != nil {
		f.Stages = p.stages(v)
	}
	sink, sinks := root.Get("sink"), root.Get("sinks")
	switch {
	case sink != nil && sinks != nil:
		p.errorf(sinks, "use either sink (one) or sinks (named, with a route stage), not both")
	case sink != nil:
		f.Sink = p.connector(sink, "sink")
	case sinks != nil:
		if sinks.Kind != Map || len(sinks.Fields) == 0 {
			p.errorf(sinks, "sinks must be a map of name -> connector, got %s", sinks.Describe())
		}
		for _, fd := range sinks.Fields {
			if !nameRE.MatchString(fd.Key) {
				p.ds.Add(diag.Diagnostic{Pos: fd.KeyAt, Path: fd.Value.Path, Message: fmt.Sprintf("sink name %q must match [a-z0-9][a-z0-9_-]*", fd.Key)})
			}
			if c := p.connector(fd.Value, fd.Key); c != nil {
				f.Sinks = append(f.Sinks, c)
			}
		}
	default:
		p.errorf(root, "a sink is required: `sink:` with one connector, or `sinks:` with named ones")
	}
	if v := root.Get("dead_letter"); v != nil {
		f.DeadLetter = p.connector(v, "dead_letter")
	}
	return f, ds
}

type parser struct{ ds *diag.List }

func (p parser) errorf(n *Node, format string, args ...any) {
	p.ds.Add(n.Errorf(format, args...))
}

// checkKeys reports every key of n not in allowed, with a suggestion.
func (p parser) checkKeys(n *Node, allowed []string) {
	for _, f := range n.Fields {
		if !slices.Contains(allowed, f.Key) {
			p.ds.Add(diag.Diagnostic{Pos: f.KeyAt, Path: f.Value.Path,
				Message: fmt.Sprintf("unknown key %q%s", f.Key, diag.DidYouMean(f.Key, allowed))})
		}
	}
}

func (p parser) str(n *Node) (string, bool) {
	if n.Kind != Scalar {
		p.errorf(n, "expected a string, got %s", n.Describe())
		return "", false
	}
	return n.Value, true
}

func (p parser) int(n *Node) (int, bool) {
	if n.Kind == Scalar && !n.Quoted {
		if v, err := strconv.Atoi(n.Value); err == nil {
			return v, true
		}
	}
	p.errorf(n, "expected a whole number, got %s", n.Describe())
	return 0, false
}

func (p parser) positive(n *Node) *Int {
	if n == nil {
		return nil
	}
	v, ok := p.int(n)
	if !ok {
		return nil
	}
	if v < 1 {
		p.errorf(n, "must be at least 1, got %d", v)
		return nil
	}
	return &Int{Value: v, At: n}
}

// connector parses {KIND: CONFIG, codec: ...}.
func (p parser) connector(n *Node, name string) *Connector {
	if n.Kind != Map {
		p.errorf(n, "expected a connector map such as {file: {path: out.jsonl}}, got %s", n.Describe())
		return nil
	}
	c := &Connector{At: n, Name: name, Codec: n.Get("codec")}
	for _, f := range n.Fields {
		if slices.Contains(ConnectorCommonKeys, f.Key) {
			continue
		}
		if c.Kind != "" {
			p.ds.Add(diag.Diagnostic{Pos: f.KeyAt, Path: f.Value.Path,
				Message: fmt.Sprintf("a connector has exactly one kind, found %q and %q", c.Kind, f.Key)})
			continue
		}
		c.Kind, c.KindAt, c.Config = f.Key, f.Value, f.Value
	}
	if c.Kind == "" {
		p.errorf(n, "no connector kind given; add one key such as file, stdout, memory or kafka")
		return nil
	}
	return c
}

func (p parser) stages(n *Node) []*Stage {
	if n.Kind != List {
		p.errorf(n, "stages must be a list, got %s", n.Describe())
		return nil
	}
	if len(n.Items) > MaxStages {
		p.errorf(n, "the flow has %d stages, over the limit of %d; split it into several flows", len(n.Items), MaxStages)
		return nil
	}
	var out []*Stage
	names := map[string]bool{}
	for i, item := range n.Items {
		if item.Kind != Map {
			p.errorf(item, "a stage is a map with one kind, e.g. `- filter: payload.ok`; got %s", item.Describe())
			continue
		}
		s := &Stage{At: item, Index: i}
		for _, f := range item.Fields {
			if f.Key == "name" {
				if v, ok := p.str(f.Value); ok {
					s.Name = v
					if !nameRE.MatchString(v) {
						p.errorf(f.Value, "stage name %q must match [a-z0-9][a-z0-9_-]*", v)
					}
				}
				continue
			}
			if s.Kind != "" {
				p.ds.Add(diag.Diagnostic{Pos: f.KeyAt, Path: f.Value.Path,
					Message: fmt.Sprintf("a stage has exactly one kind, found %q and %q; split it into two stages", s.Kind, f.Key)})
				continue
			}
			s.Kind, s.Value = f.Key, f.Value
		}
		if s.Kind == "" {
			p.errorf(item, "stage has no kind; add one such as filter, map, set or batch")
			continue
		}
		if s.Name == "" {
			s.Name = fmt.Sprintf("%s_%d", s.Kind, i)
		}
		if names[s.Name] {
			p.errorf(item, "stage name %q is used twice; names must be unique", s.Name)
		}
		names[s.Name] = true
		out = append(out, s)
	}
	return out
}

func (p parser) middleware(n *Node) []*Item {
	if n.Kind != List {
		p.errorf(n, "middleware must be a list, got %s", n.Describe())
		return nil
	}
	var out []*Item
	for _, item := range n.Items {
		if item.Kind != Map || len(item.Fields) != 1 {
			p.errorf(item, "a middleware is a map with exactly one kind, e.g. `- timeout: 2s`; got %s", item.Describe())
			continue
		}
		f := item.Fields[0]
		out = append(out, &Item{At: item, Kind: f.Key, Value: f.Value})
	}
	return out
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// yamlError turns a yaml.v3 error into a positioned diagnostic. yaml.v3
// reports the line where the construct around the problem started, and
// for parser errors counts it from 0, so the line is found again: the
// first line up to which the file fails with the same problem.
func yamlError(file string, src []byte, err error) diag.Diagnostic {
	problem, reported := splitYAMLError(err)
	d := diag.Diagnostic{Pos: diag.Pos{File: file, Line: max(reported, 1), Col: 1}, Message: "invalid YAML: " + problem}
	if line := failingLine(src, problem, reported); line > 0 {
		d.Pos.Line = line
	}
	return d
}

// splitYAMLError splits "yaml: line N: problem" into problem and N (0 when absent).
func splitYAMLError(err error) (problem string, line int) {
	if m := yamlLineRE.FindStringSubmatch(err.Error()); m != nil {
		line, _ = strconv.Atoi(m[1])
		return m[2], line
	}
	return strings.TrimPrefix(err.Error(), "yaml: "), 0
}

// maxErrorSearchLines bounds the search of failingLine (each step parses a prefix).
const maxErrorSearchLines = 500

// failingLine returns the first line n such that the file's first n lines
// fail to parse with problem, or 0 when there is none. The problem is not
// before the line yaml.v3 reported (counted from 0 or 1), so the search
// starts there.
func failingLine(src []byte, problem string, reported int) int {
	lines := bytes.SplitAfter(src, []byte("\n"))
	first := max(reported-1, 0)
	end := 0
	for _, line := range lines[:min(first, len(lines))] {
		end += len(line)
	}
	for n := first; n < len(lines) && n < first+maxErrorSearchLines; n++ {
		end += len(lines[n])
		var doc yaml.Node
		if err := yaml.Unmarshal(src[:end], &doc); err != nil {
			if got, _ := splitYAMLError(err); got == problem {
				return n + 1
			}
		}
	}
	return 0
}
