// Package dsl turns a YAML flow file into a typed flow AST. Every node
// keeps its file:line:col and value path; every problem of the file is
// collected as a diag.Diagnostic, not only the first. The dsl checks the
// file's fixed structure; connector configs, stage values and middleware
// values stay generic Nodes that the compiler checks against the
// registry's specs.
package dsl

// Flow is one parsed flow file.
type Flow struct {
	File        string
	Root        *Node
	Version     int
	Name        string
	NameAt      *Node
	Description string

	Source *Connector

	Concurrency      *Int  // processor pool size; nil = number of CPUs
	MaxDemand        *Int  // most messages one processor asks for at once
	MaxMessageBytes  *Int  // larger source messages fail (dead letter)
	MaxInFlightBytes *Int  // most bytes of source messages held unsettled
	PartitionBy      *Node // expression; nil when absent

	Middleware []*Item
	Stages     []*Stage

	Sink       *Connector   // exactly one of Sink, Sinks
	Sinks      []*Connector // named, in file order
	DeadLetter *Connector
}

// Int is an integer setting with its node.
type Int struct {
	Value int
	At    *Node
}

// Connector is one source/sink/dead letter: its kind key, its config and
// the options common to all connectors.
type Connector struct {
	At     *Node  // the whole connector map
	Name   string // under sinks: its name; else "source", "sink" or "dead_letter"
	Kind   string // e.g. "file", "kafka"
	KindAt *Node  // the kind key's value node (the config)
	Config *Node  // the connector's own settings (may be Null)
	Codec  *Node  // codec: json | text | bytes; nil = json for a source, the source's for a sink
}

// Stage is one item of stages: exactly one kind, an optional name.
type Stage struct {
	At    *Node
	Index int
	Name  string // given name, or kind + index ("filter_0")
	Kind  string
	Value *Node // the kind's value
}

// Item is one middleware: exactly one kind and its value.
type Item struct {
	At    *Node
	Kind  string
	Value *Node
}
