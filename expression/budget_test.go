package expression

import (
	"errors"
	"strings"
	"testing"
	"time"
)

// expr's memory budget does not count string bytes: this doubling took
// the process down with "fatal error: out of memory".
func TestStringBudgetStopsDoubling(t *testing.T) {
	r := NewRunner()
	for _, src := range []string{
		`len(reduce(1..31, #acc + #acc, "x"))`,
		`len(reduce(1..31, #acc + "" + #acc, "x"))`,
		`len(reduce(1..40, repeat(#acc, 2), "x"))`,
		`len(reduce(1..40, join([#acc, #acc]), "x"))`,
		`len(reduce(1..40, replace(#acc, "x", "xx"), "x"))`,
		`len(repeat(payload.s, 1000000))`,
		`len(replace(payload.s, "", payload.s))`,
		`len(join(map(1..1000, payload.s)))`,
		`len(toJSON(map(1..1000, payload)))`,
		`len(map(1..100, split(payload.s, "")))`,       // 16 MiB of string headers each
		`len(reduce(1..100000, #acc + payload.s, ""))`, // quadratic copying
	} {
		v, err := eval(t, r, src, map[string]any{"s": strings.Repeat("y", 1<<20)})
		if !errors.Is(err, ErrStringBudget) {
			t.Errorf("%s = %v, %v; want the string budget error", src, v, err)
		}
	}
	// Under the budget all of them work, and the runner is reusable.
	v, err := eval(t, r, `len(reduce(1..10, #acc + #acc, "x")) + len(repeat("ab", 3)) + len(join(["a", "b"], "-"))`, nil)
	if err != nil || v != 1024+6+3 {
		t.Errorf("under the budget: %v, %v", v, err)
	}
}

// Nested loops that allocate nothing are bounded by time: the clock is
// read every clockEvery closure iterations.
func TestTimeBudgetStopsLongLoops(t *testing.T) {
	r := NewRunner()
	r.timeBudget = time.Nanosecond
	src := `len(filter(payload.xs, {any(payload.xs, {# == -1})}))`
	xs := make([]any, 1000)
	for i := range xs {
		xs[i] = i
	}
	v, err := eval(t, r, src, map[string]any{"xs": xs})
	if !errors.Is(err, ErrTimeBudget) || !strings.Contains(err.Error(), "time budget exceeded: an evaluation may run at most 1ns") {
		t.Fatalf("%s = %v, %v; want the time budget error", src, v, err)
	}
	r.timeBudget = TimeBudget
	if v, err := eval(t, r, src, map[string]any{"xs": xs[:100]}); err != nil || v != 0 {
		t.Fatalf("with the real budget: %v, %v", v, err)
	}
}

// The patch keeps static types: a string + string is still a string to
// the checker, so type errors are still found at compile time.
func TestBudgetPatchKeepsTypes(t *testing.T) {
	if _, err := Compile(`("a" + "b") > 3`, MessageScope); err == nil {
		t.Error(`("a" + "b") > 3 compiled; want a type error`)
	}
	if _, err := Compile(`upper("a") + 1`, MessageScope); err == nil {
		t.Error(`upper("a") + 1 compiled; want a type error`)
	}
	p, err := Compile(`payload.a + payload.b`, MessageScope)
	if err != nil || p.fast == nil {
		t.Fatalf("payload.a + payload.b: %v, fast path %v", err, p != nil && p.fast != nil)
	}
}
