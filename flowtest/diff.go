package flowtest

import (
	"fmt"
	"slices"
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
	bad, hidden := 0, 0 // lines that differ; of those, lines not built (unordered)
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
		lines, hidden = unordered(want, have, match, wantShow, show)
		bad = len(lines) + hidden
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
		hidden += len(lines) - maxDiffLines
		lines = lines[:maxDiffLines]
	}
	if hidden > 0 {
		lines = append(lines, fmt.Sprintf("… %d more line(s)", hidden))
	}
	return diag.Diagnostic{Pos: e.At.Pos, Path: e.At.Path,
		Message: fmt.Sprintf("%s differ: expected %d, got %d, compared %s (- expected, + got)", what, len(want), len(have), order),
		Snippet: strings.Join(lines, "\n")}, false
}

// unordered compares want and have as multisets: exact lines are paired
// through an index of have (linear, not first-fit over all of have), and
// only the missing lines the diff shows look for their closest unmatched
// line (closest is linear in have; the diff shows at most maxDiffLines).
func unordered(want, have []string, match func(i, j int) bool, wantShow func(int) string,
	show func(string, int, string) string) (lines []string, hidden int) {
	byLine := map[string][]int{} // unmatched indexes of have, by line
	for j, h := range have {
		byLine[h] = append(byLine[h], j)
	}
	used := make([]bool, len(have))
	var missing []int
	for i, w := range want {
		free := byLine[w]
		k := 0
		for k < len(free) && !match(i, free[k]) { // only a dead letter's error can tell equal lines apart
			k++
		}
		if k == len(free) {
			missing = append(missing, i)
			continue
		}
		used[free[k]] = true
		if k == 0 { // the usual case: no copy, so equal lines stay linear
			byLine[w] = free[1:]
		} else {
			byLine[w] = slices.Delete(free, k, k+1)
		}
	}
	bad := len(missing) + len(have) - (len(want) - len(missing)) // lines in all
	// Each missing message shown next to the most alike unmatched one
	// received: a changed field reads as a -/+ pair.
	for _, i := range missing {
		if len(lines) >= maxDiffLines { // the rest is counted, the same in any pairing
			return lines, bad - len(lines)
		}
		lines = append(lines, wantShow(i))
		if j := closest(want[i], have, used); j >= 0 {
			used[j] = true
			lines = append(lines, show("+ ", j, have[j]))
		}
	}
	for j := range have {
		if !used[j] {
			if len(lines) >= maxDiffLines {
				return lines, bad - len(lines)
			}
			lines = append(lines, show("+ ", j, have[j]))
		}
	}
	return lines, 0
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

// closestHook, when set, counts closest's calls (tests).
var closestHook func()

// closest is the unused line of have most like line (the longest common
// prefix and suffix), or -1 when all are used.
func closest(line string, have []string, used []bool) int {
	if closestHook != nil {
		closestHook()
	}
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
