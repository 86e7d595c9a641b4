package conformance

import (
	"context"
	"testing"
	"time"

	wm "github.com/ThreeDotsLabs/watermill/message"
	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/connectors/memory"
	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/runtime"
	"github.com/google/uuid"
	"gopkg.in/yaml.v3"
)

// partialFailureFlow: a flow in this process (the runtime itself, with
// the retry middleware and a dead letter) reads messages from a memory
// topic and writes them with the connector's sink, which refuses two of
// them for good. The refused two go to the dead letter, and each of the
// others is delivered exactly once: the runtime settles the accepted
// messages of a partly failed write, and the retry writes none of them
// again.
func (h *Harness) partialFailureFlow(t *testing.T) {
	h.noLeaks(t)
	spec := h.spec(t)
	rawSrc, rawSnk := h.Topic(t)
	rawSnk, poison := h.Refuse(t, rawSrc, rawSnk)
	src := h.openSource(t, Config(t, spec.SourceFields, rawSrc), 64)
	defer src.close()

	const total = 10
	refused := []int{2, 7}
	b := newBatch(total, h.Features)
	in := "conformance-in-" + uuid.NewString()
	out := make([]*wm.Message, total)
	for i, m := range b.msgs {
		p := *m
		if i == refused[0] || i == refused[1] {
			poison(&p)
		}
		w := wm.NewMessage(p.ID, p.Body)
		for k, v := range p.Meta {
			w.Metadata.Set(k, v)
		}
		if p.Key != "" {
			w.Metadata.Set(memory.KeyMetadata, p.Key)
		}
		out[i] = w
	}
	if err := memory.PubSub().Publish(in, out...); err != nil {
		t.Fatal(err)
	}
	text, err := yaml.Marshal(yamlValue(map[string]any{
		"version": 1, "name": "conformance-partial",
		"source":      map[string]any{"memory": map[string]any{"topic": in}, "codec": "bytes"},
		"concurrency": 1, "max_demand": total,
		"middleware":  []any{map[string]any{"retry": map[string]any{"max_retries": 3, "initial_interval": "10ms", "max_interval": "10ms"}}},
		"sink":        map[string]any{h.Connector: rawSnk},
		"dead_letter": map[string]any{"memory": map[string]any{"topic": in + "-dlq"}},
	}))
	if err != nil {
		t.Fatal(err)
	}
	f, ds := dsl.Parse("partial.yaml", text, func(string) (string, bool) { return "", false })
	if len(ds) > 0 {
		t.Fatalf("parse the flow: %v\n%s", ds, text)
	}
	flow, ds := compiler.Compile(f)
	if len(ds) > 0 {
		t.Fatalf("compile the flow: %v\n%s", ds, text)
	}
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	p := runtime.New(flow, runtime.Options{Logger: Env(t, "flow", 0).Logger, DrainTimeout: h.Wait})
	done := make(chan error, 1)
	var sum runtime.Summary
	go func() {
		var err error
		sum, err = p.Run(ctx)
		done <- err
	}()

	want := map[string]int{}
	for i := range total {
		if i != refused[0] && i != refused[1] {
			want[string(b.msgs[i].Raw)] = i
		}
	}
	seen := map[int]bool{}
	r := startReader(src, 8)
	defer r.halt()
	deadline := time.Now().Add(h.Wait)
	for len(seen) < len(want) {
		m := r.take(t, 1, time.Until(deadline))[0]
		i, ok := want[string(m.Raw)]
		if !ok {
			t.Fatalf("received %.40q (id %q): a message the sink refused, or one never sent", m.Raw, m.ID)
		}
		if seen[i] {
			t.Fatalf("message %d delivered twice: the flow wrote again a message already delivered", i)
		}
		seen[i] = true
		b.same(t, h.Features, i, m)
		src.Ack(m)
	}
	for p.Progress().Settled() < total && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond) // the flow settles what it wrote
	}
	stop()
	if err := <-done; err != nil {
		t.Fatalf("the flow: %v", err)
	}
	if sum.Acked != total-2 || sum.DeadLettered != 2 {
		t.Errorf("the flow acked %d and dead-lettered %d messages, want %d and 2 (the refused ones)", sum.Acked, sum.DeadLettered, total-2)
	}
	r.quiet(t, h.Quiet, "every message the sink accepted was delivered once")
}
