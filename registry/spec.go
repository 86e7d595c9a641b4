package registry

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/prometheus/client_golang/prometheus"
)

// StageSpec is one stage kind.
type StageSpec struct {
	Name    string
	Summary string
	Example string // a YAML stage item, for docs
	Value   Field  // the shape of the kind's value
	// ReadsPayload is true for a kind whose Go code reads the decoded
	// payload itself (set), not only through expressions: the runtime
	// then decodes every message once up front instead of validating it.
	ReadsPayload bool

	// Where a stage of this kind may stand in a flow. The compiler
	// enforces these alike for every kind, before building, so a
	// misplaced stage is reported even when its value has problems.

	// Terminal, when set, makes the kind the flow's last stage; it says
	// why, for the diagnostic ("it hands whole batches to the sink").
	Terminal string
	// Unique allows at most one stage of the kind per flow.
	Unique bool
	// Routes is true for a kind that picks each message's sink by name
	// (it sets Message.Route): the flow must name its sinks under
	// sinks:, and a flow with several sinks needs a stage of such a kind.
	Routes bool

	// Build turns the decoded value into what runs: a Step or a node of
	// its own (see Built). Errors about a part of the value can be
	// wrapped with At so the diagnostic points there.
	Build func(b *Build, value any) (Built, error)
}

// Built is what a stage kind builds: exactly one field is set.
type Built struct {
	// Step runs per message, in the processors, in the flow's order.
	Step Step
	// Batch makes the stage a node of its own between the processors and
	// the sinks, named by the stage: the runtime's batchers group
	// messages by the plan. Only a kind that is Terminal and Unique may
	// build one (the compiler checks), since the graph has one such node,
	// after every step.
	Batch *BatchPlan
	// Routes, for a step that routes, says which messages go to which
	// sink, for the graph's edge labels: the first matching rule wins.
	Routes []RouteRule
}

// RouteRule is one rule of a routing step, as the graph shows it.
type RouteRule struct {
	Sink int    // index in Build.Sinks
	When string // the condition's source; "" for the default
}

// MiddlewareSpec is one middleware kind.
type MiddlewareSpec struct {
	Name    string
	Summary string
	Example string
	Value   Field
	Build   func(b *Build, value any) (*Middleware, error)
}

// ConnectorSpec is one connector. A connector is a source when Source is
// set and a sink (or dead letter) when Sink is set.
type ConnectorSpec struct {
	Name         string
	Summary      string
	SourceFields []Field
	SinkFields   []Field
	Source       func(ctx context.Context, cfg Config, env Env) (Source, error)
	Sink         func(ctx context.Context, cfg Config, env Env) (Sink, error)
	// ValidateSource and ValidateSink, when set, check relations between
	// fields that Fields cannot express (one of topic/topics, heartbeat
	// below session timeout) at validation time. Wrap an error with At
	// (naming the field) so the diagnostic points there.
	ValidateSource func(cfg Config) error
	ValidateSink   func(cfg Config) error
	// Redelivers is true for a source that hands a nacked message out
	// again (a broker, a webhook whose caller retries). Without it a
	// failed message that has no dead letter is lost: the run counts it
	// and exits non-zero, and validate does not warn about dead_letter.
	Redelivers bool
	// Check, when set, tries to reach the server and the topic/queue
	// (`flowrun validate --connect`) without consuming or producing.
	Check func(ctx context.Context, cfg Config, env Env) error
}

func (s *StageSpec) SpecName() string      { return s.Name }
func (s *MiddlewareSpec) SpecName() string { return s.Name }
func (s *ConnectorSpec) SpecName() string  { return s.Name }

// Env is what a connector gets from the flow around it.
type Env struct {
	Flow    string // the flow's name
	Role    string // "source", "dead_letter" or the sink's name
	Logger  *slog.Logger
	Metrics prometheus.Registerer // for connector-specific metrics, labelled with flow
	// MaxInFlight is the most messages the flow holds unacknowledged
	// (concurrency x max_demand, plus batch sizes): a source maps it to
	// its broker's own knob (prefetch, max ack pending) so memory stays
	// bounded however much the broker holds.
	MaxInFlight int
	// Codec is the source's codec: a line source keeps every byte of a
	// line for bytes, and skips blank lines only for json.
	Codec message.Codec
}

// Source reads messages against demand. Ack and Nack may be called from
// any goroutine, in any order.
type Source interface {
	// Read fills buf with up to len(buf) messages, blocking until at
	// least one is available. A finite source returns io.EOF once
	// exhausted (n may be > 0 together with io.EOF). When ctx is done it
	// returns ctx.Err().
	Read(ctx context.Context, buf []*message.Message) (n int, err error)
	// Ack: the message and all derived from it are handled.
	Ack(m *message.Message)
	// Nack: handling failed and there is no dead letter; redeliver if the
	// broker can.
	Nack(m *message.Message, err error)
	Close() error
}

// Rejecter is implemented by a source that can refuse a message for
// good, when it failed in a way no redelivery can fix (a payload that
// does not decode) and the flow has no dead letter: a webhook answers its
// caller with an error. The runtime acks such a message at any other
// source, so a partition moves on instead of redelivering it forever.
type Rejecter interface {
	Reject(m *message.Message, err error)
}

// PartitionOrdered is implemented by sources whose messages must stay in
// order per (Topic, Partition), as Kafka delivers them: without
// partition_by, the runtime then keeps each source partition on one
// processor.
type PartitionOrdered interface {
	OrderedByPartition() bool
}

// Sink writes messages.
type Sink interface {
	// Write publishes msgs (Body, Key, Meta of each) and returns nil only
	// once the destination accepted all of them. On error the retry
	// middleware calls it again. Calls come one at a time, in the order the
	// messages reached the sink, unless Write calls Sent (see there).
	Write(ctx context.Context, msgs []*message.Message) error
	Close() error
}

// WriteError is what a Sink returns when a write failed for some of its
// messages only (an HTTP 4xx for one body): the others were accepted.
// Failed holds their indexes in the call's slice. The runtime settles the
// accepted messages as delivered, and the retry middleware writes only the
// listed ones again (none when Err is a backoff.Permanent), so neighbours
// of a bad message are neither duplicated nor dead-lettered.
type WriteError struct {
	Failed []int
	Err    error
}

func (e *WriteError) Error() string {
	return fmt.Sprintf("%d message(s) of the write failed: %v", len(e.Failed), e.Err)
}

func (e *WriteError) Unwrap() error { return e.Err }

// Step is a per-message stage, run by the processors.
type Step interface {
	// Apply runs the stage on m and appends what continues to out: m
	// itself, nothing (filtered), or several messages (split).
	Apply(x *Exec, m *message.Message, out []*message.Message) ([]*message.Message, error)
}

// BatchPlan is what the batch stage builds; the runtime runs the batchers.
type BatchPlan struct {
	Size    int
	Timeout time.Duration
	Key     *expression.Program // nil: one batch
	Reduce  *expression.Program // nil: the sink receives the batch in one write
	// MaxBuffered bounds the messages held across all open batches; the
	// oldest batch is flushed early when it is reached.
	MaxBuffered int
}

// Handler runs the per-message stages on one message.
type Handler func(x *Exec, m *message.Message, out []*message.Message) ([]*message.Message, error)

// Writer writes a batch to a sink.
type Writer func(ctx context.Context, msgs []*message.Message) error

// Middleware wraps the handler chain of each message and/or each sink
// write, and may observe acknowledgements. First listed = outermost.
type Middleware struct {
	Name string
	// Wrap is called once per processor goroutine, each composing its
	// own chain: state that spans messages (a rate limiter, seen keys)
	// lives in the Middleware itself, which every chain shares.
	Wrap func(next Handler) Handler
	// WrapWrite is called once per sink (and dead letter).
	WrapWrite func(next Writer) Writer
	// OnSettle runs once per source message when it is settled: acked
	// (t.Failure() nil), or failed (dead-lettered, discarded or nacked).
	// It is also the end of a middleware's per-message state: Wrap keeps
	// what it needs about a message keyed by m.Tracker in the middleware
	// itself (never on the tracker, which serves every middleware) and
	// drops it here; dedupe keeps its claimed keys so.
	OnSettle func(t *message.Tracker)
}

// Build is what a spec's Build gets besides its value.
type Build struct {
	Flow  string
	Stage string   // the stage's name
	Sinks []string // sink names under sinks: (or ["sink"])
}

// SinkIndex returns the index of a named sink.
func (b *Build) SinkIndex(name string) (int, bool) {
	for i, s := range b.Sinks {
		if s == name {
			return i, true
		}
	}
	return 0, false
}

// PathError is an error about a part of a value; Path is relative to
// the value (e.g. [2, "to"]).
type PathError struct {
	Path []any
	Err  error
}

func (e *PathError) Error() string { return e.Err.Error() }
func (e *PathError) Unwrap() error { return e.Err }

// At wraps err so the diagnostic points at path inside the value.
func At(err error, path ...any) error { return &PathError{Path: path, Err: err} }
