package flowtest

import (
	"fmt"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/message"
)

// bigLists is n expected messages and the n received in reverse order,
// the received ones differing in the last wrong.
func bigLists(n, wrong int) (*Expected, []got) {
	e := &Expected{Sink: "sink", At: &dsl.Node{}}
	var have []got
	for i := range n {
		raw := fmt.Sprintf(`{"id":%d,"v":"x"}`, i)
		e.Msgs = append(e.Msgs, &ExpMsg{At: &dsl.Node{}, Raw: &raw})
		body := fmt.Sprintf(`{"id":%d,"v":"x"}`, n-1-i)
		if i < wrong {
			body = fmt.Sprintf(`{"id":%d,"v":"y"}`, n-1-i)
		}
		have = append(have, got{Body: []byte(body)})
	}
	return e, have
}

func TestUnorderedDiffLooksForTheClosestOnlyForTheLinesShown(t *testing.T) {
	calls := 0
	closestHook = func() { calls++ }
	defer func() { closestHook = nil }()
	e, have := bigLists(8000, 8000)
	d, ok := compareList(e, have, message.JSON, false, false)
	if ok {
		t.Fatal("8000 changed messages compared equal")
	}
	lines := strings.Split(d.Snippet, "\n")
	if len(lines) != maxDiffLines+1 || lines[maxDiffLines] != "… 15960 more line(s)" {
		t.Fatalf("%d lines, last %q", len(lines), lines[len(lines)-1])
	}
	// A changed message reads as a -/+ pair.
	if !strings.HasPrefix(lines[0], `- {"payload":{"id":0,"v":"x"}}`) || lines[1] != `+ {"payload":{"id":0,"v":"y"}}` {
		t.Fatalf("first pair:\n%s\n%s", lines[0], lines[1])
	}
	if calls > maxDiffLines {
		t.Fatalf("closest ran %d times for %d lines shown", calls, maxDiffLines)
	}

	e, have = bigLists(8000, 0)
	if _, ok := compareList(e, have, message.JSON, false, false); !ok {
		t.Fatal("the same messages in another order differ")
	}
}

func BenchmarkUnorderedDiff8000(b *testing.B) {
	for _, wrong := range []int{0, 8000} {
		e, have := bigLists(8000, wrong)
		b.Run(fmt.Sprintf("wrong=%d", wrong), func(b *testing.B) {
			for range b.N {
				compareList(e, have, message.JSON, false, false)
			}
		})
	}
}
