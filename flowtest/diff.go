package flowtest

import (
	"fmt"
	"strings"

	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
)

// maxDiffLines bounds a diff; the rest is counted.
const maxDiffLines = 40

// compareList compares what a sink (or the dead letter) received with
// what the test expects: in order when ordered, else as a multiset
// (processors run in parallel). It returns a diagnostic at the
// expectation with a -/+ diff when they differ.
func compareList(e *Expected, gotMsgs []got, codec message.Codec, dead, ordered bool) (diag.Diagnostic, bool) {
	f := fieldsOf(e, dead)
	want := make([]string, len(e.Msgs))
	for i, m := range e.Msgs {
		line, err := wantLine(m, codec, f)
		if err != nil {
			return m.At.Errorf("%v", err), false
		}
		want[i] = line
	}
	have := make([]string, len(gotMsgs))
	errs := make([]string, len(gotMsgs))
	for i, m := range gotMsgs {
		have[i], errs[i] = gotLine(m, codec, f)
	}
	// A dead letter's error matches when it contains the expected text.
	match := func(i, j int) bool {
		if want[i] != have[j] {
			return false
		}
		if sub := e.Msgs[i].Error; sub != nil && !strings.Contains(errs[j], *sub) {
			return false
		}
		return true
	}
	show := func(prefix string, j int, line string) string {
		if dead && errs[j] != "" {
			line += "  error: " + firstLine(errs[j])
		}
		return prefix + line
	}
	wantShow := func(i int) string {
		if sub := e.Msgs[i].Error; sub != nil {
			return "- " + want[i] + "  error contains: " + *sub
		}
		return "- " + want[i]
	}
	var lines []string
	bad := 0 // lines that differ
	if ordered {
		for i := 0; i < max(len(want), len(have)); i++ {
			switch {
			case i < len(want) && i < len(have) && match(i, i):
				lines = append(lines, show("  ", i, have[i]))
				continue
			case i < len(want) && i < len(have):
				lines = append(lines, wantShow(i), show("+ ", i, have[i]))
			case i < len(want):
				lines = append(lines, wantShow(i))
			default:
				lines = append(lines, show("+ ", i, have[i]))
			}
			bad++
		}
	} else {
		used := make([]bool, len(have))
		var missing []int
		for i := range want {
			found := false
			for j := range have {
				if !used[j] && match(i, j) {
					used[j], found = true, true
					break
				}
			}
			if !found {
				missing = append(missing, i)
			}
		}
		// Each missing message next to the most alike unmatched one
		// received: a changed field reads as a -/+ pair.
		for _, i := range missing {
			lines = append(lines, wantShow(i))
			bad++
			if j := closest(want[i], have, used); j >= 0 {
				used[j] = true
				lines = append(lines, show("+ ", j, have[j]))
				bad++
			}
		}
		for j := range have {
			if !used[j] {
				lines = append(lines, show("+ ", j, have[j]))
				bad++
			}
		}
	}
	if bad == 0 {
		return diag.Diagnostic{}, true
	}
	what := fmt.Sprintf("the outputs to sink %q", e.Sink)
	if dead {
		what = "dead-lettered messages"
	}
	order := "in any order"
	if ordered {
		order = "in order"
	}
	if len(lines) > maxDiffLines {
		lines = append(lines[:maxDiffLines], fmt.Sprintf("… %d more line(s)", len(lines)-maxDiffLines))
	}
	return diag.Diagnostic{Pos: e.At.Pos, Path: e.At.Path,
		Message: fmt.Sprintf("%s differ: expected %d, got %d, compared %s (- expected, + got)", what, len(want), len(have), order),
		Snippet: strings.Join(lines, "\n")}, false
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}

// checkCondition evaluates one condition on every output of every sink.
func checkCondition(t *Test, g *Got, c condition) diag.List {
	n := t.Expect.Conditions[c.idx]
	runner := expression.NewRunner()
	var ds diag.List
	failed := 0
	for _, sc := range g.Flow.Sinks {
		for i, m := range g.Outputs[sc.Role] {
			msg := &message.Message{ID: m.ID, Key: m.Key, Topic: m.Topic, Meta: m.Meta, Raw: m.Body}
			var v any
			err := sc.Codec.Decode(msg)
			if err == nil {
				v, err = runner.Eval(c.prog, msg.Payload, msg.Meta, msg.Key, msg.Topic, msg.ID)
			}
			line, _ := gotLine(m, sc.Codec, fields{key: m.Key != "", meta: len(m.Meta) > 0})
			switch {
			case err != nil:
				ds.Add(diag.Diagnostic{Pos: n.Pos, Path: n.Path, Message: fmt.Sprintf("condition failed on output %d of sink %s: %v", i+1, sc.Role, err), Snippet: line})
			case v != true:
				ds.Add(diag.Diagnostic{Pos: n.Pos, Path: n.Path, Message: fmt.Sprintf("condition is %s on output %d of sink %s", message.FormatValue(v), i+1, sc.Role), Snippet: line})
			default:
				continue
			}
			if failed++; failed == 3 {
				return ds // the first few say enough
			}
		}
	}
	return ds
}

// closest is the unused line of have most like line (the longest common
// prefix and suffix), or -1 when all are used.
func closest(line string, have []string, used []bool) int {
	best, bestScore := -1, -1
	for j, h := range have {
		if used[j] {
			continue
		}
		p := 0
		for p < len(line) && p < len(h) && line[p] == h[p] {
			p++
		}
		q := 0
		for q < len(line)-p && q < len(h)-p && line[len(line)-1-q] == h[len(h)-1-q] {
			q++
		}
		if p+q > bestScore {
			best, bestScore = j, p+q
		}
	}
	return best
}
