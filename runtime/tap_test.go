package runtime_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/runtime"
)

// recordingTap keeps, per point, the ids and bodies it was shown,
// copying them as a Tap must.
type recordingTap struct {
	mu   sync.Mutex
	seen map[string][]string
}

func (r *recordingTap) Sample(at *runtime.TapPoint, msgs []*message.Message) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, m := range msgs {
		cp := *m
		body := cp.Body
		if body == nil {
			if err := at.Codec.Encode(&cp); err != nil {
				panic(err)
			}
			body = cp.Body
		}
		r.seen[at.Edge()] = append(r.seen[at.Edge()], cp.ID+"="+string(body))
	}
}

func TestTapSeesEveryEdgeAndStageOutput(t *testing.T) {
	newSource(t, "tap", `{"a":1}`, `{"a":2}`, `{"a":3}`, `x`)
	out := newSink(t, "tap-out")
	newSink(t, "tap-dlq")
	flow := compile(t, `version: 1
name: tap
concurrency: 1
source: {tsrc: {name: tap}}
stages:
  - name: big
    filter: payload.a > 1
  - name: shape
    map: '{"b": payload.a * 10}'
sink: {tsink: {name: tap-out}}
dead_letter: {tsink: {name: tap-dlq}}
`)
	p := runtime.New(flow, runtime.Options{})
	var points []string
	for _, tp := range p.TapPoints() {
		points = append(points, tp.Edge())
	}
	if want := []string{"source->processors", "big->shape", "shape->sink", "processors->sink", "processors->dead_letter"}; !slices.Equal(points, want) {
		t.Fatalf("tap points %v, want %v", points, want)
	}
	tap := &recordingTap{seen: map[string][]string{}}
	p.SetTap(tap)
	if _, err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	want := map[string][]string{
		"source->processors":      {`0={"a":1}`, `1={"a":2}`, `2={"a":3}`, `3=x`},
		"big->shape":              {`1={"a":2}`, `2={"a":3}`},
		"shape->sink":             {`1={"b":20}`, `2={"b":30}`},
		"processors->sink":        {`1={"b":20}`, `2={"b":30}`},
		"processors->dead_letter": {`3=x`},
	}
	for edge, w := range want {
		if got := tap.seen[edge]; !slices.Equal(got, w) {
			t.Errorf("%s: tap saw %v, want %v", edge, got, w)
		}
	}
	if got := strings.Join(out.bodies(), " "); got != `{"b":20} {"b":30}` {
		t.Errorf("sink got %s: the tap changed what flows", got)
	}
}

func TestTapDetachedSeesNothing(t *testing.T) {
	newSource(t, "untap", `{"a":1}`)
	newSink(t, "untap-out")
	flow := compile(t, "version: 1\nname: untap\nsource: {tsrc: {name: untap}}\nstages:\n  - map: payload\nsink: {tsink: {name: untap-out}}\n")
	p := runtime.New(flow, runtime.Options{})
	tap := &recordingTap{seen: map[string][]string{}}
	p.SetTap(tap)
	p.SetTap(nil)
	if _, err := p.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	if len(tap.seen) != 0 {
		t.Fatalf("a detached tap saw %v", tap.seen)
	}
}
