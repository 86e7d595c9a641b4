package expression

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm/runtime"
)

// What one evaluation may spend beyond expr's own MemoryBudget (which
// counts list, map and range elements but not string bytes):
//   - StringBudget: bytes of strings built (+, repeat, replace, join,
//     toJSON, upper, ...), so `reduce(1..31, #acc + #acc, "x")` fails the
//     message instead of exhausting memory;
//   - TimeBudget: wall time spent in closures (map, filter, reduce, ...),
//     read every clockEvery iterations, so a quadratic expression fails
//     the message instead of running until the drain timeout.
//
// The fast path (fast.go, Go closures for the common shapes) needs
// neither: it runs no loops, so what it builds is bounded by the
// expression's size times the message's.
const (
	StringBudget = 16 << 20
	TimeBudget   = time.Second
	clockEvery   = 64 // closure iterations between clock readings (a reading costs ~25 ns)
)

// Errors that name the budget; they fail the message like any
// expression error (dead letter).
var (
	ErrStringBudget = fmt.Errorf("string budget exceeded: an evaluation may build at most %d MiB of strings", StringBudget>>20)
	ErrTimeBudget   = fmt.Errorf("time budget exceeded: an evaluation may run at most %v", TimeBudget)
)

// budget is what one evaluation has spent. The Runner resets it before
// each run; programs reach it through budgetName in their environment.
type budget struct {
	bytes   int
	steps   uint
	started time.Time // zero until the first clock reading
	limit   time.Duration
}

func (b *budget) reset(limit time.Duration) { *b = budget{limit: limit} }

// grow counts n bytes built.
func (b *budget) grow(n int) error {
	if b.bytes += n; b.bytes > StringBudget {
		return ErrStringBudget
	}
	return nil
}

// step counts one closure iteration and reads the clock every
// clockEvery of them. The clock starts at the first reading, so an
// evaluation that never loops that long never reads it.
func (b *budget) step() error {
	if b.steps++; b.steps%clockEvery != 0 {
		return nil
	}
	now := time.Now()
	if b.started.IsZero() {
		b.started = now
		return nil
	}
	if now.Sub(b.started) > b.limit {
		return timeBudgetError{b.limit}
	}
	return nil
}

// timeBudgetError names the limit in force (a test sets a smaller one);
// to errors.Is it is ErrTimeBudget.
type timeBudgetError struct{ limit time.Duration }

func (e timeBudgetError) Error() string {
	return fmt.Sprintf("time budget exceeded: an evaluation may run at most %v", e.limit)
}

func (e timeBudgetError) Is(target error) bool { return target == ErrTimeBudget }

// Names of the functions the budget patch calls. budgetName and
// stepFunc are environment fields: the evaluation's *budget, and a
// func() bool bound to it, which expr calls without allocating (a
// registered function called once per iteration would allocate its
// arguments each time).
const (
	budgetName = "__flowrun_budget"
	addFunc    = "__flowrun_add"    // a + b where either may be a string
	concatFunc = "__flowrun_concat" // a + b, both strings
	countFunc  = "__flowrun_count"  // the result of a string-building call
	countsFunc = "__flowrun_counts" // the []string of split and splitAfter
	stepFunc   = "__flowrun_step"   // one closure iteration
)

// stepper returns the step function of b: it panics with the budget
// error, which expr's VM turns into the evaluation's error.
func stepper(b *budget) func() bool {
	return func() bool {
		if err := b.step(); err != nil {
			panic(err)
		}
		return true
	}
}

var budgetFunctions = []expr.Option{
	expr.Function(addFunc, func(params ...any) (any, error) {
		if x, ok := params[1].(string); ok {
			if y, ok := params[2].(string); ok {
				return concat(params[0].(*budget), x, y)
			}
		}
		return runtime.Add(params[1], params[2]), nil
	}, new(func(*budget, any, any) any)),
	expr.Function(concatFunc, func(params ...any) (any, error) {
		return concat(params[0].(*budget), params[1].(string), params[2].(string))
	}, new(func(*budget, string, string) string)),
	expr.Function(countFunc, func(params ...any) (any, error) {
		s := params[1].(string)
		return s, params[0].(*budget).grow(len(s))
	}, new(func(*budget, string) string)),
	expr.Function(countsFunc, func(params ...any) (any, error) {
		list := params[1].([]string)
		return list, params[0].(*budget).grow(16 * len(list)) // a string header each; the bytes are shared
	}, new(func(*budget, []string) []string)),

	// expr's own repeat, replace and join build their result before
	// anything counts it; these refuse one over the budget first.
	expr.DisableBuiltin("repeat"),
	expr.Function("repeat", func(params ...any) (any, error) {
		s, n := params[0].(string), runtime.ToInt(params[1])
		switch {
		case n < 0:
			return nil, fmt.Errorf("repeat: count %d is negative", n)
		case len(s) > 0 && n > StringBudget/len(s):
			return nil, ErrStringBudget
		}
		return strings.Repeat(s, n), nil
	}, new(func(string, int) string)),
	expr.DisableBuiltin("replace"),
	expr.Function("replace", func(params ...any) (any, error) {
		s, old, repl := params[0].(string), params[1].(string), params[2].(string)
		limit := -1 // all
		if len(params) == 4 {
			limit = runtime.ToInt(params[3])
		}
		n := strings.Count(s, old)
		if limit >= 0 {
			n = min(n, limit)
		}
		if len(s)+n*(len(repl)-len(old)) > StringBudget {
			return nil, ErrStringBudget
		}
		return strings.Replace(s, old, repl, limit), nil
	}, new(func(string, string, string) string), new(func(string, string, string, int) string)),
	expr.DisableBuiltin("join"),
	expr.Function("join", join, new(func([]string, string) string), new(func([]any, string) string),
		new(func([]any) string), new(func([]string) string)),
}

func concat(b *budget, x, y string) (any, error) {
	if err := b.grow(len(x) + len(y)); err != nil {
		return nil, err
	}
	return x + y, nil
}

// join is expr's join (glue "" by default) that sums the size first.
func join(params ...any) (any, error) {
	glue := ""
	if len(params) == 2 {
		glue = params[1].(string)
	}
	var parts []string
	switch v := params[0].(type) {
	case []string:
		parts = v
	case []any:
		parts = make([]string, len(v))
		for i, p := range v {
			s, ok := p.(string)
			if !ok {
				return nil, errors.New("join: the list must hold only strings")
			}
			parts[i] = s
		}
	default:
		return nil, fmt.Errorf("join: expected a list of strings, got %s", A(params[0]))
	}
	size := len(glue) * max(len(parts)-1, 0)
	for _, p := range parts {
		if size += len(p); size > StringBudget {
			return nil, ErrStringBudget
		}
	}
	return strings.Join(parts, glue), nil
}

// jsonSize estimates the length of v's JSON encoding from above, walking
// only until it passes limit.
func jsonSize(v any, limit int) int {
	switch v := v.(type) {
	case string:
		return len(v) + 2
	case map[string]any:
		size := 2
		for k, e := range v {
			if size += len(k) + 4 + jsonSize(e, limit-size); size > limit {
				break
			}
		}
		return size
	case []any:
		size := 2
		for _, e := range v {
			if size += 1 + jsonSize(e, limit-size); size > limit {
				break
			}
		}
		return size
	case []string:
		size := 2
		for _, e := range v {
			if size += 3 + len(e); size > limit {
				break
			}
		}
		return size
	}
	return 32 // a number, bool, null or a small value
}
