package conformance

import (
	"fmt"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/google/uuid"
)

// Service is a broker the graph suite stops and starts for real, with
// the commands that run it on this machine.
type Service struct {
	Name  string
	Stop  func() error
	Start func() error // must wait until the service answers again
}

// RunGraph runs the connector inside real `flowrun run` processes (the
// module's cmd/flowrun, built once): a flow reads one destination of
// the connector and writes another (and a dead letter), while the test
// writes the input and reads the output through the connector itself.
// svc, when set, is stopped and started mid-stream; RunGraph makes sure
// it is running again when the test ends, even when the test fails.
func RunGraph(t *testing.T, h Harness, svc *Service) {
	h.defaults()
	if !h.Features.Persistent {
		t.Fatalf("%s: the graph suite needs a broker that outlives the flow process (Features.Persistent)", h.Connector)
	}
	h.Features.Binary = false // payloads go through a JSON codec
	bin := buildFlowrun(t, t.TempDir())
	t.Run("SigkillLosesNothing", func(t *testing.T) { h.sigkill(t, bin) })
	t.Run("SigtermDrainsWithoutDuplicates", func(t *testing.T) { h.sigterm(t, bin) })
	t.Run("FailuresGoToDeadLetter", func(t *testing.T) { h.deadLetter(t, bin) })
	t.Run("BrokerRestartLosesNothing", func(t *testing.T) {
		if svc == nil {
			t.Skipf("%s: no broker service to restart", h.Connector)
		}
		h.brokerRestart(t, bin, svc)
	})
}

// destination is one topic/stream/queue: its raw values for the flow
// file and decoded configs for the test's own source and sink.
type destination struct {
	rawSource, rawSink map[string]any
	pair
}

func (h *Harness) destination(t *testing.T) destination {
	t.Helper()
	src, snk := h.Topic(t)
	spec := h.spec(t)
	return destination{rawSource: src, rawSink: snk, pair: pair{
		srcCfg: Config(t, spec.SourceFields, src), sinkCfg: Config(t, spec.SinkFields, snk),
	}}
}

// flow is a pass-through flow file from in to out, slowed down so that
// a test can act mid-stream.
func (h *Harness) flow(name string, in, out destination, perSecond int, extra map[string]any) map[string]any {
	f := map[string]any{
		"version": 1, "name": name,
		"source":      map[string]any{h.Connector: in.rawSource},
		"concurrency": 4, "max_demand": 8,
		"middleware": []any{map[string]any{"throttle": map[string]any{"per_second": perSecond}}},
		"sink":       map[string]any{h.Connector: out.rawSink},
	}
	for k, v := range extra {
		f[k] = v
	}
	return f
}

func flowName() string { return "conformance-" + uuid.NewString()[:8] }

// sameAsSent checks key, meta and id of what a flow passed through.
func (h *Harness) sameAsSent(b *batch) func(int, *message.Message) error {
	return func(i int, m *message.Message) error {
		want := b.msgs[i]
		if h.Features.Key && m.Key != want.Key {
			return fmt.Errorf("key %q, want %q", m.Key, want.Key)
		}
		if h.Features.ID && m.ID != want.ID {
			return fmt.Errorf("id %q, want %q", m.ID, want.ID)
		}
		if h.Features.Meta {
			for k, v := range want.Meta {
				if m.Meta[k] != v {
					return fmt.Errorf("meta[%q] = %q, want %q", k, m.Meta[k], v)
				}
			}
		}
		return nil
	}
}

// sigkill: the flow is killed mid-stream; a new process finishes, and
// every input message is in the output at least once.
func (h *Harness) sigkill(t *testing.T, bin string) {
	in, out := h.destination(t), h.destination(t)
	const total = 1000
	b := newBatch(total, h.Features)
	got := h.collect(t, out.srcCfg, b, h.sameAsSent(b))
	file := flowFile(t, h.flow(flowName(), in, out, 200, nil))

	first := startFlow(t, bin, file)
	w := startWrite(t, h.openSink(t, in.sinkCfg), b.msgs, 50, 4*h.Wait)
	got.waitFor(t, total/5, h.Wait, "before the kill", first)
	first.kill()
	t.Logf("killed the flow with %d of %d messages out", got.count(), total)

	second := startFlow(t, bin, file)
	got.waitFor(t, total, 3*h.Wait, "after the restart", second)
	w.wait(t, h.Wait)
	second.stop(30 * time.Second)
	t.Logf("%d duplicates (at least once: redelivered after the kill)", got.duplicates())
}

// sigterm: SIGTERM finishes and acknowledges what is in flight and
// exits 0; a new process carries on with no message written twice.
func (h *Harness) sigterm(t *testing.T, bin string) {
	in, out := h.destination(t), h.destination(t)
	const total = 600
	b := newBatch(total, h.Features)
	got := h.collect(t, out.srcCfg, b, h.sameAsSent(b))
	file := flowFile(t, h.flow(flowName(), in, out, 200, nil))

	first := startFlow(t, bin, file)
	w := startWrite(t, h.openSink(t, in.sinkCfg), b.msgs, 50, 4*h.Wait)
	got.waitFor(t, 100, h.Wait, "before SIGTERM", first)
	first.stop(30 * time.Second)

	second := startFlow(t, bin, file)
	got.waitFor(t, total, 3*h.Wait, "after the restart", second)
	w.wait(t, h.Wait)
	second.stop(30 * time.Second)
	time.Sleep(h.Quiet) // late duplicates would show up now
	if d := got.duplicates(); d > 0 {
		t.Fatalf("%d messages written twice (e.g. %v): the drain did not acknowledge everything it wrote", d, got.repeated(5))
	}
}

// deadLetter: a stage fails for every tenth message; after retries those
// reach the dead letter with their original bytes and the failure in
// metadata, the others reach the sink; nothing is lost.
func (h *Harness) deadLetter(t *testing.T, bin string) {
	in, out, dlq := h.destination(t), h.destination(t), h.destination(t)
	const total = 200
	b := newBatch(total, h.Features)
	name := flowName()
	good := h.collect(t, out.srcCfg, b, func(i int, m *message.Message) error {
		if i%10 == 3 {
			return fmt.Errorf("a failing message reached the sink")
		}
		return h.sameAsSent(b)(i, m)
	})
	dead := h.collect(t, dlq.srcCfg, b, func(i int, m *message.Message) error {
		if i%10 != 3 {
			return fmt.Errorf("a good message reached the dead letter: %v", m.Meta)
		}
		if !h.Features.Meta {
			return nil
		}
		if m.Meta["error_stage"] != "fail_some" || m.Meta["flow"] != name || m.Meta["attempts"] != "3" || m.Meta["error"] == "" {
			return fmt.Errorf("dead letter metadata %v, want error, error_stage fail_some, flow %s, attempts 3", m.Meta, name)
		}
		return h.sameAsSent(b)(i, m)
	})
	file := flowFile(t, h.flow(name, in, out, 1000, map[string]any{
		"middleware": []any{map[string]any{"retry": map[string]any{"max_retries": 2, "initial_interval": "10ms"}}},
		"stages": []any{map[string]any{
			"name": "fail_some", "filter": `int(payload.n) % 10 == 3 ? fromJSON("{") != nil : true`,
		}},
		"dead_letter": map[string]any{h.Connector: dlq.rawSink},
	}))
	p := startFlow(t, bin, file)
	w := startWrite(t, h.openSink(t, in.sinkCfg), b.msgs, 50, 2*h.Wait)
	good.waitFor(t, total-total/10, h.Wait, "sink", p)
	dead.waitFor(t, total/10, h.Wait, "dead letter", p)
	w.wait(t, h.Wait)
	p.stop(30 * time.Second)
}

// brokerRestart: the broker stops mid-stream and comes back; the flow
// waits (backpressure), reconnects and loses nothing, including what
// is written after the restart.
func (h *Harness) brokerRestart(t *testing.T, bin string, svc *Service) {
	in, out := h.destination(t), h.destination(t)
	const before, after = 1000, 200
	b := newBatch(before+after, h.Features)
	snk := h.openSink(t, in.sinkCfg)
	got := h.collect(t, out.srcCfg, b, h.sameAsSent(b))
	p := startFlow(t, bin, h.writeFlow(t, in, out))
	w := startWrite(t, snk, b.msgs[:before], 50, 6*h.Wait)

	got.waitFor(t, before/5, h.Wait, "before the broker stopped", p)
	stopped := true
	t.Cleanup(func() {
		if stopped {
			if err := svc.Start(); err != nil {
				t.Errorf("starting %s again after the test: %v", svc.Name, err)
			}
		}
	})
	if err := svc.Stop(); err != nil {
		t.Fatalf("stop %s: %v", svc.Name, err)
	}
	t.Logf("%s stopped with %d of %d messages out", svc.Name, got.count(), before)
	time.Sleep(2 * time.Second) // the flow runs into the outage
	if err := p.exited(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Start(); err != nil {
		t.Fatalf("start %s: %v", svc.Name, err)
	}
	stopped = false
	w2 := startWrite(t, snk, b.msgs[before:], 50, 4*h.Wait)
	got.waitFor(t, before+after, 4*h.Wait, "after the broker came back", p)
	w.wait(t, h.Wait)
	w2.wait(t, h.Wait)
	if err := p.exited(); err != nil {
		t.Fatal(err)
	}
	p.stop(30 * time.Second)
	t.Logf("%d duplicates after the broker restart", got.duplicates())
}

func (h *Harness) writeFlow(t *testing.T, in, out destination) string {
	return flowFile(t, h.flow(flowName(), in, out, 200, nil))
}
