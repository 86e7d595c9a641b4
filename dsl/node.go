package dsl

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/flowrun/flowrun/diag"
	"gopkg.in/yaml.v3"
)

// Kind is the shape of a Node.
type Kind int

const (
	Null Kind = iota
	Scalar
	Map
	List
)

func (k Kind) String() string {
	return [...]string{"null", "scalar", "map", "list"}[k]
}

// Node is a YAML value with its position and value path. Scalars are
// already interpolated (${VAR}). Connector configs, stage values and
// middleware values stay Nodes in the AST: the compiler checks them
// against the registry's specs.
type Node struct {
	Kind   Kind
	Pos    diag.Pos
	Path   string // value path, e.g. stages[2].filter
	Value  string // Scalar: the interpolated text
	Tag    string // Scalar: YAML tag (!!str, !!int, !!bool, !!float, !!null)
	Quoted bool   // Scalar: written in quotes (so "true" is a string)
	Fields []Field
	Items  []*Node
	// ValuePos is where the scalar's text starts (after a quote), used to
	// place expression errors on the right column.
	ValuePos diag.Pos
	// Block is true for literal/folded block scalars (| and >), whose
	// text starts on the next line.
	Block bool

	src *scalarSource // for TextPos; nil when unknown
}

// Field is one key: value pair of a map, in file order.
type Field struct {
	Key   string
	KeyAt diag.Pos
	Value *Node
}

// Get returns the value of key in a map node, or nil.
func (n *Node) Get(key string) *Node {
	if n == nil {
		return nil
	}
	for _, f := range n.Fields {
		if f.Key == key {
			return f.Value
		}
	}
	return nil
}

// Keys returns the keys of a map node in file order.
func (n *Node) Keys() []string {
	keys := make([]string, len(n.Fields))
	for i, f := range n.Fields {
		keys[i] = f.Key
	}
	return keys
}

// Errorf builds a diagnostic at this node.
func (n *Node) Errorf(format string, args ...any) diag.Diagnostic {
	return diag.Diagnostic{Pos: n.Pos, Path: n.Path, Message: fmt.Sprintf(format, args...)}
}

// Describe names the node's shape for error messages ("a list", "the string \"x\"").
func (n *Node) Describe() string {
	switch n.Kind {
	case Map:
		return "a map"
	case List:
		return "a list"
	case Null:
		return "nothing"
	}
	if r := []rune(n.Value); len(r) > 60 { // a message quotes it: keep it to a line
		return strconv.Quote(string(r[:60])) + "…"
	}
	return strconv.Quote(n.Value)
}

// IsString reports whether a scalar node is a string (quoted or tagged !!str).
func (n *Node) IsString() bool { return n.Kind == Scalar && (n.Quoted || n.Tag == "!!str") }

// maxNodes bounds how many values one file may hold or expand to: YAML
// aliases can make a small file expand exponentially ("billion laughs").
const maxNodes = 100_000

// converter turns yaml.Nodes into Nodes, interpolating scalars. Problems
// (unset variables, merge keys, bad keys, too many values) go to ds.
type converter struct {
	file    string
	lines   []string // the source, to find where block scalar text starts
	env     Lookup
	literal bool // no ${VAR} interpolation (ParseDocument)
	ds      *diag.List
	nodes   int
	aliases int // alias uses, to say whether they are why a file is too big
}

// convert converts y, whose value path is path.
func (c *converter) convert(y *yaml.Node, path string) *Node {
	for y.Kind == yaml.AliasNode && y.Alias != nil {
		y = y.Alias
		c.aliases++
	}
	n := &Node{Pos: diag.Pos{File: c.file, Line: y.Line, Col: y.Column}, Path: path}
	n.ValuePos = n.Pos
	if c.nodes++; c.nodes == maxNodes+1 {
		if c.aliases > 0 {
			c.ds.Addf(n.Pos, path, "the file expands through its YAML aliases to more than %d values; write it out plainly", maxNodes)
		} else {
			c.ds.Addf(n.Pos, path, "the file has more than %d values, the most a flow file may have; split it into several flows", maxNodes)
		}
	}
	if c.nodes > maxNodes {
		return n
	}
	switch y.Kind {
	case yaml.DocumentNode:
		if len(y.Content) == 0 {
			return n
		}
		return c.convert(y.Content[0], path)
	case yaml.ScalarNode:
		n.Kind = Scalar
		n.Tag = y.ShortTag()
		n.Quoted = y.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) != 0
		n.Block = y.Style&(yaml.LiteralStyle|yaml.FoldedStyle) != 0
		if n.Quoted {
			n.ValuePos.Col++
		}
		if n.Block {
			n.ValuePos = c.blockStart(y)
		}
		n.src = &scalarSource{lines: c.lines, literal: y.Style&yaml.LiteralStyle != 0,
			double: y.Style&yaml.DoubleQuotedStyle != 0, single: y.Style&yaml.SingleQuotedStyle != 0}
		if n.Tag == "!!null" {
			n.Kind = Null
			return n
		}
		n.Value = y.Value
		if c.literal {
			break
		}
		v, err := Interpolate(y.Value, c.env)
		if err != nil {
			c.ds.Add(diag.Diagnostic{Pos: n.Pos, Path: path, Message: err.Error()})
		}
		n.Value = v
	case yaml.MappingNode:
		n.Kind = Map
		seen := map[string]bool{}
		for i := 0; i+1 < len(y.Content); i += 2 {
			k, v := y.Content[i], y.Content[i+1]
			kp := diag.Pos{File: c.file, Line: k.Line, Col: k.Column}
			if k.Kind != yaml.ScalarNode {
				c.ds.Addf(kp, path, "map keys must be plain names")
				continue
			}
			if k.Value == "<<" {
				c.ds.Addf(kp, path, "YAML merge keys (<<) are not supported; write the keys out")
				continue
			}
			if seen[k.Value] {
				c.ds.Addf(kp, join(path, k.Value), "duplicate key %q", k.Value)
				continue
			}
			seen[k.Value] = true
			n.Fields = append(n.Fields, Field{Key: k.Value, KeyAt: kp, Value: c.convert(v, join(path, k.Value))})
		}
	case yaml.SequenceNode:
		n.Kind = List
		for i, item := range y.Content {
			n.Items = append(n.Items, c.convert(item, fmt.Sprintf("%s[%d]", path, i)))
		}
	}
	return n
}

// blockStart is where the text of a block scalar (| or >) starts: the
// line after its header, at the indentation of its first non-blank line.
func (c *converter) blockStart(y *yaml.Node) diag.Pos {
	pos := diag.Pos{File: c.file, Line: y.Line + 1, Col: y.Column}
	for i := y.Line; i < len(c.lines); i++ { // c.lines[y.Line] is the line after the header
		if text := strings.TrimLeft(c.lines[i], " "); text != "" {
			pos.Col = len(c.lines[i]) - len(text) + 1
			break
		}
	}
	return pos
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}
