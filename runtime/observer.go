package runtime

import (
	"context"
	"log/slog"
	"time"

	"github.com/flowrun/flowrun/message"
)

// EventKind names a runtime event.
type EventKind string

// The events the runtime emits to observers. Per-message work is
// reported per chunk of messages, so observing stays cheap.
const (
	EventDemand         EventKind = "demand"          // Node asked upstream for Count messages
	EventEnqueued       EventKind = "enqueued"        // Count messages put on edge From->To
	EventBufferFull     EventKind = "buffer_full"     // edge From->To was full; the sender waits
	EventBudgetFull     EventKind = "budget_full"     // the flow holds Bytes, max_in_flight_bytes or more: reading waits
	EventStageStart     EventKind = "stage_start"     // Node started work on Count messages
	EventStageStop      EventKind = "stage_stop"      // Node finished them after Duration
	EventStageException EventKind = "stage_exception" // Stage failed on a message (Err)
	EventNodeStart      EventKind = "node_start"      // a node's goroutines started
	EventNodeStop       EventKind = "node_stop"       // a node's goroutines ended
)

// Event is one runtime event. Messages, when set (enqueued), must be
// treated as read-only and not kept after Observe returns.
type Event struct {
	Kind     EventKind
	Flow     string
	Node     string
	Stage    string
	From, To string
	Count    int
	Bytes    int64 // budget_full: the bytes the flow holds
	Duration time.Duration
	Err      error
	Messages []*message.Message
}

// Observer receives runtime events, in-process. Observe is called from
// the runtime's goroutines and must be quick and safe for concurrent use.
// Future tools (tap, the live graph page) are observers.
type Observer interface {
	Observe(e Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(Event)

// Observe calls f.
func (f ObserverFunc) Observe(e Event) { f(e) }

// LogObserver writes every event as a debug log line.
func LogObserver(l *slog.Logger) Observer {
	return ObserverFunc(func(e Event) {
		if !l.Enabled(context.Background(), slog.LevelDebug) {
			return
		}
		attrs := []slog.Attr{slog.String("flow", e.Flow)}
		add := func(k, v string) {
			if v != "" {
				attrs = append(attrs, slog.String(k, v))
			}
		}
		add("node", e.Node)
		add("stage", e.Stage)
		add("from", e.From)
		add("to", e.To)
		if e.Count != 0 {
			attrs = append(attrs, slog.Int("count", e.Count))
		}
		if e.Bytes != 0 {
			attrs = append(attrs, slog.Int64("bytes", e.Bytes))
		}
		if e.Duration != 0 {
			attrs = append(attrs, slog.Duration("duration", e.Duration))
		}
		if e.Err != nil {
			attrs = append(attrs, slog.String("error", e.Err.Error()))
		}
		l.LogAttrs(context.Background(), slog.LevelDebug, string(e.Kind), attrs...)
	})
}

// observers fans events out; nil when there are none so the hot path
// pays one nil check.
type observers []Observer

func (o observers) emit(e Event) {
	for _, ob := range o {
		ob.Observe(e)
	}
}
