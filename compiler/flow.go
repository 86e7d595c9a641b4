// Package compiler checks a parsed flow (dsl.Flow) against the registry,
// decodes every setting, compiles every expression once and produces a
// Flow: the plan the runtime executes and the graph `flowrun graph` draws.
// It reports every problem it finds, each with file:line:col.
package compiler

import (
	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// Defaults for settings a flow file may leave out.
const (
	DefaultMaxDemand        = 1024
	DefaultMaxMessageBytes  = 4 << 20
	DefaultMaxInFlightBytes = 64 << 20
)

// Flow is a checked, compiled flow.
type Flow struct {
	Name        string
	File        string
	Description string

	Source          *Connector
	Concurrency     int
	MaxDemand       int
	MaxMessageBytes int
	// MaxInFlightBytes bounds the bytes of the source messages the flow
	// holds, read and not yet settled.
	MaxInFlightBytes int
	PartitionBy      *expression.Program // nil: any processor

	Middleware []*registry.Middleware // first = outermost
	Steps      []*Step                // per-message stages, run by the processors
	Batch      *Batch                 // nil without a batch stage; always the last stage
	Sinks      []*Connector           // index = message.Message.Route
	DeadLetter *Connector             // nil: failures are nacked, or discarded when permanent
	Routes     []registry.RouteRule   // what the routing step sends where, for the graph
	// Warnings are diagnostics about a valid flow (no dead_letter for a
	// source that redelivers): validate prints them, run logs them.
	Warnings diag.List

	// NeedsPayload is true when any expression, a reduce or a stage kind
	// that ReadsPayload reads the payload; else
	// the runtime only validates it against the codec.
	NeedsPayload bool
	// PayloadFields, when set, are the only top-level payload fields the
	// flow reads, all by name from expressions that run as closures: the
	// runtime decodes just those (message.Codec.DecodeFields).
	PayloadFields []string

	Graph *Graph
}

// Connector is a checked source, sink or dead letter.
type Connector struct {
	Pos    diag.Pos // where the flow file declares it
	Role   string   // "source", "dead_letter", or the sink's name
	NodeID string   // its node in Graph
	Kind   string
	Spec   *registry.ConnectorSpec
	Config registry.Config
	Codec  message.Codec // a sink without codec: has the source's
}

// Step is one per-message stage.
type Step struct {
	Name string
	Kind string
	Step registry.Step
}

// Batch is the flow's batch stage.
type Batch struct {
	Name   string
	NodeID string
	Plan   *registry.BatchPlan
}
