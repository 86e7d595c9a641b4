// Package expression compiles and runs flowrun's expressions
// (github.com/expr-lang/expr) with the names the flow contract puts in
// scope. Programs are compiled and type-checked once; running one reuses
// a per-goroutine Runner so the hot path allocates nothing of its own.
package expression

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/ast"
	"github.com/expr-lang/expr/file"
	"github.com/expr-lang/expr/vm"
	"github.com/flowrun/flowrun/message"
	"github.com/google/uuid"
)

// Scope says which names an expression may use.
type Scope int

const (
	// MessageScope: payload, meta, key, topic, id.
	MessageScope Scope = iota
	// ReduceScope: batch and batch_key (in batch.reduce only).
	ReduceScope
	// GenerateScope: counter (in the generate source's payload only).
	GenerateScope
)

// Names lists the names in scope, for documentation and errors.
func (s Scope) Names() []string {
	switch s {
	case ReduceScope:
		return []string{"batch", "batch_key"}
	case GenerateScope:
		return []string{"counter"}
	}
	return []string{"payload", "meta", "key", "topic", "id"}
}

// MemoryBudget bounds what one evaluation may allocate (expr's own
// accounting); an expression over it fails that message, not the process.
const MemoryBudget = 1_000_000

// The environments of each scope. Programs are type-checked against
// these structs (so payload is `any`, not nil) and run with a pointer to
// one that the Runner reuses.
type messageEnv struct {
	Payload any               `expr:"payload"`
	Meta    map[string]string `expr:"meta"`
	Key     string            `expr:"key"`
	Topic   string            `expr:"topic"`
	ID      string            `expr:"id"`
	Budget  *budget           `expr:"__flowrun_budget"`
	Step    func() bool       `expr:"__flowrun_step"`
}

type reduceEnv struct {
	Batch    []any       `expr:"batch"`
	BatchKey any         `expr:"batch_key"`
	Budget   *budget     `expr:"__flowrun_budget"`
	Step     func() bool `expr:"__flowrun_step"`
}

type generateEnv struct {
	Counter int         `expr:"counter"`
	Budget  *budget     `expr:"__flowrun_budget"`
	Step    func() bool `expr:"__flowrun_step"`
}

func typeEnv(s Scope) any {
	switch s {
	case ReduceScope:
		return reduceEnv{}
	case GenerateScope:
		return generateEnv{}
	}
	return messageEnv{}
}

var functions = []expr.Option{
	// expr's toJSON indents over several lines; one line suits line sinks and logs.
	expr.DisableBuiltin("toJSON"),
	expr.Function("toJSON", func(params ...any) (any, error) {
		if jsonSize(params[0], StringBudget) > StringBudget {
			return nil, ErrStringBudget // a list of a million references to one payload
		}
		b, err := json.Marshal(params[0])
		if err != nil {
			return nil, fmt.Errorf("toJSON: %w", err)
		}
		return string(b), nil
	}, new(func(any) string)),
	expr.Function("env", func(params ...any) (any, error) {
		return os.Getenv(params[0].(string)), nil
	}, new(func(string) string)),
	expr.Function("uuid", func(params ...any) (any, error) {
		return uuid.NewString(), nil
	}, new(func() string)),
}

// Program is a compiled expression.
type Program struct {
	Source string
	Scope  Scope
	prog   *vm.Program
	fast   fastFn // nil: the program always runs on the VM
	uses   uses
}

// uses records which names a program reads.
type uses struct {
	payload bool
	// fields are the top-level payload fields read, when the payload is
	// read only as payload.name (or payload["name"]); else nil.
	fields []string
}

// Error is a compile error with its position inside the expression
// (Line 1-based, Column 0-based, in runes) and expr's caret snippet.
type Error struct {
	Line, Column int
	Message      string
	Snippet      string
}

func (e *Error) Error() string { return e.Message }

// Compile compiles and type-checks src for scope. Its error is an *Error.
func Compile(src string, scope Scope) (*Program, error) {
	if err := checkLimits(src); err != nil {
		return nil, err
	}
	opts := append([]expr.Option{expr.Env(typeEnv(scope))}, functions...)
	opts = append(opts, conversions...)
	if scope == MessageScope {
		opts = append(opts, fieldOption)
	}
	opts = append(opts, budgetFunctions...)
	// expr type-checks a program with patchers twice and drops the first
	// pass's errors; the second skips the arguments of a call the first
	// typed, so int(paylod) passed. The program as written is checked
	// first, without patchers.
	if _, err := expr.Compile(src, slices.Clip(opts)...); err != nil {
		return nil, compileError(src, err)
	}
	if scope == MessageScope {
		opts = append(opts, expr.Patch(payloadFields{}))
	}
	opts = append(opts, expr.Patch(budgetPatch{}), expr.Patch(&stepBinding{}))
	prog, err := expr.Compile(src, opts...)
	if err != nil {
		return nil, compileError(src, err)
	}
	return newProgram(src, scope, prog), nil
}

// compileError is expr's error as an *Error, with its position.
func compileError(src string, err error) error {
	var fe *file.Error
	if errors.As(err, &fe) {
		msg := fe.Message + closureMapHint(src, fe)
		return &Error{Line: fe.Line, Column: fe.Column, Message: msg, Snippet: fe.Snippet}
	}
	return &Error{Line: 1, Message: err.Error()}
}

func newProgram(src string, scope Scope, prog *vm.Program) *Program {
	p := &Program{Source: src, Scope: scope, prog: prog}
	p.uses = collectUses(prog.Node())
	if scope == MessageScope {
		p.fast = compileFast(prog.Node())
	}
	return p
}

func collectUses(root ast.Node) uses {
	var u uses
	reads, fieldReads := 0, 0
	ast.Find(root, func(n ast.Node) bool {
		switch n := n.(type) {
		case *ast.IdentifierNode:
			if n.Value == "payload" {
				u.payload = true
				reads++
			}
		case *ast.CallNode:
			if id, ok := n.Callee.(*ast.IdentifierNode); ok && id.Value == fieldFunc && len(n.Arguments) == 2 {
				from, isPayload := n.Arguments[0].(*ast.IdentifierNode)
				key, isConst := n.Arguments[1].(*ast.StringNode)
				if isPayload && isConst && from.Value == "payload" {
					fieldReads++
					if !slices.Contains(u.fields, key.Value) {
						u.fields = append(u.fields, key.Value)
					}
				}
			}
		}
		return false
	})
	if reads != fieldReads {
		u.fields = nil
	}
	return u
}

// UsesPayload reports whether the program reads the payload.
func (p *Program) UsesPayload() bool { return p.uses.payload }

// PayloadFields returns the top-level payload fields the program reads
// and true when it reads the payload only by field name and runs as
// closures: it then works on a message.Fields payload as on the whole
// object. A program that does not read the payload gives nil, true.
func (p *Program) PayloadFields() ([]string, bool) {
	if !p.uses.payload {
		return nil, true
	}
	return p.uses.fields, p.fast != nil && p.uses.fields != nil
}

// Runner evaluates programs; one per goroutine (it is not safe for
// concurrent use). It reuses the VM and the environments.
type Runner struct {
	vm     vm.VM
	budget budget
	step   func() bool // stepper(&budget)
	// timeBudget is TimeBudget; tests shorten it.
	timeBudget time.Duration
	msg        messageEnv
	reduce     reduceEnv
	generate   generateEnv
}

// NewRunner returns a Runner.
func NewRunner() *Runner {
	r := &Runner{vm: vm.VM{MemoryBudget: MemoryBudget}, timeBudget: TimeBudget}
	r.step = stepper(&r.budget)
	return r
}

// MessageFields are what a message-scoped program reads.
type MessageFields = messageEnv

// Eval runs a message-scoped program.
func (r *Runner) Eval(p *Program, payload any, meta map[string]string, key, topic, id string) (any, error) {
	r.msg = messageEnv{Payload: payload, Meta: meta, Key: key, Topic: topic, ID: id, Budget: &r.budget, Step: r.step}
	if p.fast != nil {
		if v, ok := p.fast(&r.msg); ok {
			r.msg = messageEnv{}
			return v, nil
		}
	}
	if f, partial := payload.(*message.Fields); partial && p.UsesPayload() {
		whole, err := f.Map() // the VM reads the payload as decode gives it
		if err != nil {
			return nil, err
		}
		r.msg.Payload = whole
	}
	v, err := r.run(p, &r.msg)
	r.msg = messageEnv{} // do not keep the message alive
	return v, err
}

// EvalReduce runs a reduce-scoped program over a batch.
func (r *Runner) EvalReduce(p *Program, batch []any, batchKey any) (any, error) {
	r.reduce = reduceEnv{Batch: batch, BatchKey: batchKey, Budget: &r.budget, Step: r.step}
	v, err := r.run(p, &r.reduce)
	r.reduce = reduceEnv{}
	return v, err
}

// EvalGenerate runs a generate-scoped program for the n-th message.
func (r *Runner) EvalGenerate(p *Program, counter int) (any, error) {
	r.generate = generateEnv{Counter: counter, Budget: &r.budget, Step: r.step}
	return r.run(p, &r.generate)
}

func (r *Runner) run(p *Program, env any) (v any, err error) {
	defer func() {
		if rec := recover(); rec != nil { // expr recovers most panics itself; be sure
			err = panicError(p, rec)
		}
	}()
	r.budget.reset(r.timeBudget)
	v, err = r.vm.Run(p.prog, env)
	if err != nil {
		return nil, evalError(p, err)
	}
	return v, nil
}
