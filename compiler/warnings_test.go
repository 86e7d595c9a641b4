package compiler_test

import (
	"strings"
	"testing"
)

// A source that redelivers, without a dead letter, is valid but warned
// about: a failing message is redelivered again and again, or discarded.
func TestWarnsWhenARedeliveringSourceHasNoDeadLetter(t *testing.T) {
	const base = "version: 1\nname: w\nsource: {ctest-queue: {brokers: [b], topic: in}}\nsink: {ctest-out: {}}\n"
	f := mustCompile(t, base)
	if len(f.Warnings) != 1 || !f.Warnings[0].Warning || f.Warnings[0].Path != "source.ctest-queue" ||
		!strings.Contains(f.Warnings[0].String(), "warning: source.ctest-queue: the flow has no dead_letter") ||
		f.Warnings[0].Pos.Line != 3 {
		t.Fatalf("warnings %v", f.Warnings)
	}
	if f := mustCompile(t, base+"dead_letter: {ctest-out: {}}\n"); len(f.Warnings) != 0 {
		t.Fatalf("with a dead letter: warnings %v", f.Warnings)
	}
	gen := "version: 1\nname: w\nsource: {ctest-gen: {payload: '1'}}\nsink: {ctest-out: {}}\n"
	if f := mustCompile(t, gen); len(f.Warnings) != 0 {
		t.Fatalf("a source that cannot redeliver: warnings %v", f.Warnings)
	}
}
