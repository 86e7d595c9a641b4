package registry

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
)

// Exec is one processor goroutine's state, passed to every Step: its
// expression runner, its scratch space and what middleware records.
// It is never shared between goroutines.
type Exec struct {
	Ctx      context.Context
	Runner   *expression.Runner
	Codec    message.Codec // the source codec, for lazy decoding
	Logger   *slog.Logger
	Flow     string
	Attempts int    // set by retry: attempts made on the current message
	Stage    string // the stage running now, for error_stage
	// Flush, when set, sends on what this goroutine has handled so far.
	// A middleware about to wait for another message's outcome calls it
	// first: that message may be among them (dedupe).
	Flush func()
}

// NewExec returns an Exec for one goroutine.
func NewExec(ctx context.Context, flow string, codec message.Codec, logger *slog.Logger) *Exec {
	return &Exec{Ctx: ctx, Runner: expression.NewRunner(), Codec: codec, Logger: logger, Flow: flow}
}

// DecodeError is a payload that the source codec cannot decode.
type DecodeError struct{ Err error }

func (e *DecodeError) Error() string { return e.Err.Error() }
func (e *DecodeError) Unwrap() error { return e.Err }

// Eval runs a message-scoped program on m, decoding the payload first
// when the program reads it.
func (x *Exec) Eval(p *expression.Program, m *message.Message) (any, error) {
	if p.UsesPayload() && !m.Decoded {
		if err := x.Codec.Decode(m); err != nil {
			return nil, &DecodeError{Err: err}
		}
	}
	return x.Runner.Eval(p, m.Payload, m.Meta, m.Key, m.Topic, m.ID)
}

// EvalBool runs a program that must give a boolean.
func (x *Exec) EvalBool(p *expression.Program, m *message.Message) (bool, error) {
	v, err := x.Eval(p, m)
	if err != nil {
		return false, err
	}
	b, ok := v.(bool)
	if !ok {
		return false, fmt.Errorf("the expression gave %s, want a bool (true or false)\n | %s", expression.A(v), p.Source)
	}
	return b, nil
}

// EvalString runs a program and formats its value as a string (nil -> ""),
// a number m's payload carried with the digits it was read with.
func (x *Exec) EvalString(p *expression.Program, m *message.Message) (string, error) {
	v, err := x.Eval(p, m)
	if err != nil || v == nil {
		return "", err
	}
	return m.Format(v), nil
}

// ToString formats an expression value as a string for metadata, keys,
// partition_by and dedupe keys: nil as "" (no key), anything else as
// message.FormatValue does (the digits the payload's JSON shows).
func ToString(v any) string {
	if v == nil {
		return ""
	}
	return message.FormatValue(v)
}
