package flowtest

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
)

// EvalOptions are what `flowrun eval` gives an expression besides payloads.
type EvalOptions struct {
	Scope          expression.Scope
	Key, Topic, ID string
	Meta           map[string]string
	BatchKey       []byte // reduce: batch_key as JSON; nil: null
	Raw            bool   // a string result as it is, not as JSON
	MaxLineBytes   int    // longest input line; 0: 4 MiB
}

// CompileEval compiles src in scope as a flow would: the same names,
// type checks and caret snippets, placed at expression:LINE:COL.
func CompileEval(src string, scope expression.Scope) (*expression.Program, diag.List) {
	pos := diag.Pos{File: "expression", Line: 1, Col: 1}
	n := &dsl.Node{Kind: dsl.Scalar, Value: src, Tag: "!!str", Pos: pos, ValuePos: pos}
	return compiler.CompileExpression(n, scope)
}

// Eval evaluates p on each JSON document of in (one per line; blank
// lines skipped) and writes each result as a line to out, or, in the
// reduce scope, once over all of them as the batch. A line that does not
// decode or whose evaluation fails is reported to errs with its line
// number; failed counts them.
func Eval(p *expression.Program, in io.Reader, out, errs io.Writer, opts EvalOptions) (failed int, err error) {
	maxLine := opts.MaxLineBytes
	if maxLine <= 0 {
		maxLine = 4 << 20
	}
	sc := bufio.NewScanner(in)
	sc.Buffer(make([]byte, 0, 64<<10), maxLine)
	runner := expression.NewRunner()
	var batch []any
	var members []*message.Message // reduce: whose bytes the result may take
	line := 0
	for sc.Scan() {
		line++
		if len(bytes.TrimSpace(sc.Bytes())) == 0 {
			continue
		}
		m := &message.Message{ID: opts.ID, Key: opts.Key, Topic: opts.Topic, Meta: opts.Meta, Raw: bytes.Clone(sc.Bytes())}
		if err := message.JSON.Decode(m); err != nil {
			fmt.Fprintf(errs, "line %d: %v\n", line, err)
			failed++
			continue
		}
		if opts.Scope == expression.ReduceScope {
			batch = append(batch, m.Payload)
			members = append(members, m)
			continue
		}
		v, err := runner.Eval(p, m.Payload, m.Meta, m.Key, m.Topic, m.ID)
		if err != nil {
			fmt.Fprintf(errs, "line %d: %v\n", line, err)
			failed++
			continue
		}
		if err := writeResult(out, m.Derive(v), opts.Raw); err != nil {
			fmt.Fprintf(errs, "line %d: %v\n", line, err)
			failed++
		}
	}
	if err := sc.Err(); errors.Is(err, bufio.ErrTooLong) {
		return failed, fmt.Errorf("line %d is longer than %s: one JSON document per line", line+1, size(maxLine))
	} else if err != nil {
		return failed, fmt.Errorf("reading input after line %d: %w", line, err)
	}
	if opts.Scope != expression.ReduceScope {
		return failed, nil
	}
	var key any
	if opts.BatchKey != nil {
		km := &message.Message{Raw: opts.BatchKey}
		if err := message.JSON.Decode(km); err != nil {
			return failed, fmt.Errorf("--batch-key: %w", err)
		}
		key = km.Payload
		members = append(members, km)
	}
	v, err := runner.EvalReduce(p, batch, key)
	if err != nil {
		fmt.Fprintf(errs, "batch of %d: %v\n", len(batch), err)
		return failed + 1, nil
	}
	result := &message.Message{Payload: v, Decoded: true, Changed: true}
	result.TakeFrom(members) // values taken unchanged keep their bytes, as in a flow
	return failed, writeResult(out, result, opts.Raw)
}

// size writes n bytes as MiB when whole.
func size(n int) string {
	if n%(1<<20) == 0 {
		return fmt.Sprintf("%d MiB", n>>20)
	}
	return fmt.Sprintf("%d bytes", n)
}

// writeResult writes a value as JSON, with the digits of numbers the
// payload carried unchanged; with raw, a string as it is.
func writeResult(out io.Writer, m *message.Message, raw bool) error {
	if s, ok := m.Payload.(string); ok && raw {
		_, err := fmt.Fprintln(out, s)
		return err
	}
	if err := message.JSON.Encode(m); err != nil {
		return err
	}
	_, err := out.Write(append(m.Body, '\n'))
	return err
}
