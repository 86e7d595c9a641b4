package middleware

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// fastRetry retries without noticeable waits.
func fastRetry(t *testing.T, maxRetries int) *registry.Middleware {
	return build(t, "retry", registry.Config{
		"max_retries": maxRetries, "initial_interval": time.Millisecond, "max_interval": 2 * time.Millisecond,
		"multiplier": 2.0, "max_elapsed": time.Duration(0), "jitter": 0.2,
	})
}

func TestRetryRestoresSourceStateBeforeEachAttempt(t *testing.T) {
	x := newExec(context.Background())
	m := newMessage("m1", `{"n":1,"tags":["a"]}`, map[string]string{"origin": "src"}, nil)
	var seen []string
	calls := 0
	h := fastRetry(t, 3).Wrap(func(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
		calls++
		if err := x.Codec.Decode(m); err != nil {
			t.Fatal(err)
		}
		p := m.Payload.(map[string]any)
		seen = append(seen, registry.ToString(p["n"])+"/"+m.Meta["origin"]+"/"+m.Meta["stage"])
		// Change the message in place, as set and meta stages do, then fail.
		p["n"] = 99.0
		p["tags"] = append(p["tags"].([]any), "b")
		m.SetMeta("origin", "changed")
		m.SetMeta("stage", "ran")
		out = append(out, m)
		if calls < 3 {
			return out, errors.New("transient")
		}
		return out, nil
	})
	out, err := h(x, m, nil)
	if err != nil {
		t.Fatalf("want success on attempt 3, got %v", err)
	}
	if calls != 3 || x.Attempts != 3 {
		t.Fatalf("calls=%d attempts=%d, want 3 and 3", calls, x.Attempts)
	}
	if want := []string{"1/src/", "1/src/", "1/src/"}; !reflect.DeepEqual(seen, want) {
		t.Fatalf("attempts saw %v, want source state each time %v", seen, want)
	}
	if len(out) != 1 || out[0] != m {
		t.Fatalf("out = %v, want only m (what failed attempts appended is discarded)", out)
	}
	if m.Tracker == nil || m.ID != "m1" {
		t.Fatalf("tracker or identity lost: %+v", m)
	}
	if src := m.Tracker.Original(); src.Meta["origin"] != "src" || len(src.Meta) != 1 || src.Decoded {
		t.Fatalf("tracker source changed: %+v", src)
	}
}

func TestRetryGivesUpAfterMaxRetries(t *testing.T) {
	x := newExec(context.Background())
	boom := errors.New("boom")
	calls := 0
	h := fastRetry(t, 2).Wrap(func(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
		calls++
		return append(out, m), boom
	})
	prev := []*message.Message{newMessage("earlier", "{}", nil, nil)}
	out, err := h(x, newMessage("m", "{}", nil, nil), prev)
	if !errors.Is(err, boom) || calls != 3 || x.Attempts != 3 {
		t.Fatalf("err=%v calls=%d attempts=%d, want boom, 3, 3", err, calls, x.Attempts)
	}
	if len(out) != 1 || out[0] != prev[0] {
		t.Fatalf("out = %v, want the caller's out unchanged", out)
	}
}

func TestRetryDoesNotRetryPermanentErrors(t *testing.T) {
	for name, fail := range map[string]error{
		"decode": &registry.DecodeError{Err: errors.New("bad json")},
		"panic":  &PanicError{Value: "nil map"},
	} {
		t.Run(name, func(t *testing.T) {
			x := newExec(context.Background())
			calls := 0
			h := fastRetry(t, 5).Wrap(func(*registry.Exec, *message.Message, []*message.Message) ([]*message.Message, error) {
				calls++
				return nil, fmt.Errorf("stage map: %w", fail)
			})
			_, err := h(x, newMessage("m", "{", nil, nil), nil)
			if !errors.Is(err, fail) || calls != 1 || x.Attempts != 1 {
				t.Fatalf("err=%v calls=%d attempts=%d, want the error at once after 1 attempt", err, calls, x.Attempts)
			}
		})
	}
}

func TestRetryBackoffStopsOnContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	x := newExec(ctx)
	boom := errors.New("boom")
	calls := 0
	h := build(t, "retry", registry.Config{"max_retries": 3, "initial_interval": time.Hour,
		"max_interval": time.Hour, "multiplier": 2.0, "jitter": 0.0}).Wrap(
		func(*registry.Exec, *message.Message, []*message.Message) ([]*message.Message, error) {
			calls++
			cancel() // shutdown while the retry would wait an hour
			return nil, boom
		})
	_, err := h(x, newMessage("m", "{}", nil, nil), nil)
	if !errors.Is(err, boom) || !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("err=%v calls=%d, want boom and context.Canceled after 1 call", err, calls)
	}
}

func TestRetryWrite(t *testing.T) {
	broker := errors.New("broker down")
	calls := 0
	w := fastRetry(t, 4).WrapWrite(func(ctx context.Context, msgs []*message.Message) error {
		calls++
		if calls < 3 {
			return broker
		}
		return nil
	})
	if err := w(context.Background(), nil); err != nil || calls != 3 {
		t.Fatalf("err=%v calls=%d, want success on the 3rd write", err, calls)
	}

	calls = 0
	w = fastRetry(t, 1).WrapWrite(func(context.Context, []*message.Message) error { calls++; return broker })
	err := w(context.Background(), nil)
	if !errors.Is(err, broker) || calls != 2 || !strings.Contains(err.Error(), "after 2 attempts") {
		t.Fatalf("err=%v calls=%d, want broker error after 2 attempts", err, calls)
	}
}

func TestRetryWriteStopsOnContextCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	w := build(t, "retry", registry.Config{"max_retries": 3, "initial_interval": time.Hour,
		"max_interval": time.Hour, "multiplier": 2.0, "jitter": 0.0}).WrapWrite(
		func(context.Context, []*message.Message) error { calls++; cancel(); return errors.New("down") })
	if err := w(ctx, nil); !errors.Is(err, context.Canceled) || calls != 1 {
		t.Fatalf("err=%v calls=%d, want context.Canceled after 1 write", err, calls)
	}
}

func TestRetryRejectsBadSettings(t *testing.T) {
	_, err := buildErr("retry", registry.Config{"max_retries": 3, "initial_interval": time.Second,
		"max_interval": time.Millisecond, "multiplier": 2.0, "jitter": 0.2})
	var pe *registry.PathError
	if !errors.As(err, &pe) || !reflect.DeepEqual(pe.Path, []any{"max_interval"}) {
		t.Fatalf("err = %v, want a PathError at max_interval", err)
	}
	if _, err := buildErr("retry", registry.Config{"initial_interval": time.Second, "max_interval": time.Second,
		"multiplier": 2.0, "jitter": 1.5}); err == nil || !strings.Contains(err.Error(), "jitter") {
		t.Fatalf("err = %v, want a jitter error", err)
	}
}

func TestRestoreKeepsTrackers(t *testing.T) {
	m := newMessage("m", `{"a":1}`, map[string]string{"k": "v"}, nil)
	other := message.NewTracker(&message.Message{ID: "o"}, func(*message.Tracker) {})
	tr := m.Tracker
	m.More = []*message.Tracker{other}
	m.Key, m.Route = "changed", 2
	m.SetPayload("replaced")
	Restore(m)
	if m.Tracker != tr || len(m.More) != 1 || m.More[0] != other {
		t.Fatal("Restore lost the trackers")
	}
	if m.Key != "" || m.Route != 0 || m.Decoded || m.Changed || m.Payload != nil || string(m.Raw) != `{"a":1}` {
		t.Fatalf("Restore did not bring back the source state: %+v", m)
	}
	m.SetMeta("k", "new")
	if tr.Original().Meta["k"] != "v" {
		t.Fatal("a change after Restore reached the tracker's source")
	}
}

// When a sink wrote part of a write, retry writes only the messages that
// failed, and in the end names the ones still failing among the write's.
func TestRetryWriteResendsOnlyWhatFailed(t *testing.T) {
	msgs := make([]*message.Message, 5)
	for i := range msgs {
		msgs[i] = &message.Message{ID: fmt.Sprint(i)}
	}
	ids := func(ms []*message.Message) string {
		var b strings.Builder
		for _, m := range ms {
			b.WriteString(m.ID)
		}
		return b.String()
	}
	down := errors.New("partition down")

	// 1 and 3 fail once, then go through.
	var sent []string
	w := fastRetry(t, 3).WrapWrite(func(_ context.Context, ms []*message.Message) error {
		sent = append(sent, ids(ms))
		if len(sent) == 1 {
			return &registry.WriteError{Failed: []int{1, 3}, Err: down}
		}
		return nil
	})
	if err := w(context.Background(), msgs); err != nil || !reflect.DeepEqual(sent, []string{"01234", "13"}) {
		t.Fatalf("err %v, writes %q; want 01234 then only 13", err, sent)
	}

	// 1, 2 and 3 fail; then of those only 2 (index 1 of the retry) keeps
	// failing, wholly, until retries run out.
	sent = nil
	w = fastRetry(t, 3).WrapWrite(func(_ context.Context, ms []*message.Message) error {
		sent = append(sent, ids(ms))
		switch len(sent) {
		case 1:
			return &registry.WriteError{Failed: []int{1, 2, 3}, Err: down}
		case 2:
			return &registry.WriteError{Failed: []int{1}, Err: down}
		}
		return down
	})
	err := w(context.Background(), msgs)
	var partial *registry.WriteError
	if !errors.As(err, &partial) || !reflect.DeepEqual(partial.Failed, []int{2}) || !errors.Is(err, down) ||
		!strings.Contains(err.Error(), "after 4 attempts") {
		t.Fatalf("err %v; want a WriteError naming message 2 after 4 attempts", err)
	}
	if !reflect.DeepEqual(sent, []string{"01234", "123", "2", "2"}) {
		t.Fatalf("writes %q; want 01234, 123, then 2 until retries ran out", sent)
	}

	// Failures the sink calls permanent are not written again.
	sent = nil
	w = fastRetry(t, 3).WrapWrite(func(_ context.Context, ms []*message.Message) error {
		sent = append(sent, ids(ms))
		return &registry.WriteError{Failed: []int{4}, Err: backoff.Permanent(down)}
	})
	if err := w(context.Background(), msgs); !errors.As(err, &partial) || !reflect.DeepEqual(partial.Failed, []int{4}) || len(sent) != 1 {
		t.Fatalf("err %v after writes %q; want message 4 failed after one write", err, sent)
	}
}
