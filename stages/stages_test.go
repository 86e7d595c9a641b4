package stages_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func TestFilter(t *testing.T) {
	var logs bytes.Buffer
	x := newExec(&logs)
	s := step(t, "filter", prog(t, `payload.amount > 500 && payload.currency == "EUR"`))
	for _, tc := range []struct {
		raw  string
		keep bool
	}{
		{`{"amount": 501, "currency": "EUR"}`, true},
		{`{"amount": 500, "currency": "EUR"}`, false},
		{`{"amount": 900, "currency": "USD"}`, false},
	} {
		m := newMsg(tc.raw)
		out, err := apply(t, x, s, m)
		if err != nil {
			t.Fatalf("%s: %v", tc.raw, err)
		}
		if tc.keep && (len(out) != 1 || out[0] != m) || !tc.keep && len(out) != 0 {
			t.Errorf("%s: got %d messages, keep=%v", tc.raw, len(out), tc.keep)
		}
		if m.Changed {
			t.Errorf("%s: filter changed the payload", tc.raw)
		}
	}

	_, err := apply(t, x, step(t, "filter", prog(t, `payload.currency`)), newMsg(`{"currency": "EUR"}`))
	if err == nil || !strings.Contains(err.Error(), "the expression gave a string, want a bool (true or false)\n | ") {
		t.Errorf("non-boolean filter: %v", err)
	}
	_, err = apply(t, x, s, newMsg(`{"amount": `))
	var de *registry.DecodeError
	if !errors.As(err, &de) {
		t.Errorf("undecodable payload: want a DecodeError, got %v", err)
	}
}

func TestMap(t *testing.T) {
	x := newExec(&bytes.Buffer{})
	s := step(t, "map", prog(t, `{"id": payload.id, "cents": int(payload.amount * 100), "tags": [key, topic]}`))
	m := newMsg(`{"id": "p1", "amount": 12.34, "extra": true}`)
	out, err := apply(t, x, s, m)
	if err != nil || len(out) != 1 || out[0] != m {
		t.Fatalf("map: %v, %v", out, err)
	}
	want := map[string]any{"id": "p1", "cents": 1234, "tags": []any{"k-1", "payments"}}
	if !reflect.DeepEqual(m.Payload, want) || !m.Changed || !m.Decoded {
		t.Errorf("payload %#v (changed %v), want %#v", m.Payload, m.Changed, want)
	}
	if string(m.Raw) != `{"id": "p1", "amount": 12.34, "extra": true}` {
		t.Errorf("Raw was modified: %s", m.Raw)
	}
}

func TestSet(t *testing.T) {
	x := newExec(&bytes.Buffer{})
	s := step(t, "set", entries(t,
		"total", "payload.price * payload.qty",
		"audit.seen.by", `"flowrun"`,
		"price", "payload.price * 2",
		"was_price", "payload.price", // sees the payload as it came in
	))
	m := newMsg(`{"price": 2.5, "qty": 4, "audit": {"at": "t0"}}`)
	out, err := apply(t, x, s, m)
	if err != nil || len(out) != 1 {
		t.Fatalf("set: %v, %v", out, err)
	}
	want := map[string]any{"price": 5.0, "qty": 4, "total": 10.0, "was_price": 2.5,
		"audit": map[string]any{"at": "t0", "seen": map[string]any{"by": "flowrun"}}}
	if !reflect.DeepEqual(m.Payload, want) || !m.Changed {
		t.Errorf("payload %#v, want %#v", m.Payload, want)
	}

	// null payload: set builds an object.
	m = newMsg(`null`)
	if _, err := apply(t, x, step(t, "set", entries(t, "a.b", "1")), m); err != nil {
		t.Fatal(err)
	}
	if want := map[string]any{"a": map[string]any{"b": 1}}; !reflect.DeepEqual(m.Payload, want) {
		t.Errorf("from null: %#v", m.Payload)
	}

	for _, tc := range []struct{ raw, path, err string }{
		{`{"audit": 5}`, "audit.seen", "cannot set audit.seen: audit is a number, not an object"},
		{`{"a": {"b": "x"}}`, "a.b.c", "cannot set a.b.c: a.b is a string, not an object"},
		{`[1, 2]`, "a", "set needs an object payload, got a list"},
	} {
		out, err := apply(t, x, step(t, "set", entries(t, tc.path, "1")), newMsg(tc.raw))
		if err == nil || err.Error() != tc.err || len(out) != 0 {
			t.Errorf("set %s on %s: %v (out %v), want %q", tc.path, tc.raw, err, out, tc.err)
		}
	}
}

func TestMeta(t *testing.T) {
	x := newExec(&bytes.Buffer{})
	s := step(t, "meta", entries(t,
		"count", "payload.n",
		"ratio", "payload.r",
		"big", "payload.big",
		"name", `"x-" + payload.name`,
		"none", "payload.missing",
		"flag", "payload.n > 1",
		"id", "payload.id",
		"whole", "payload.whole",
		"frac", "payload.frac",
		"tiny", "payload.tiny",
		"e20", "payload.e20",
		"list", "payload.list",
		"obj", "payload.obj",
		"huge", "payload.huge",
		"computed", "payload.whole * 1",
	))
	m := newMsg(`{"n": 3, "r": 1.5, "big": 1e15, "name": "y", "id": 1234567890123456789, "whole": 12345678.0,
		"frac": 123456789.5, "tiny": 1.5e-7, "e20": 1e20, "list": [1, 2.5, "a"], "obj": {"b": 1, "a": null},
		"huge": 123456789012345678901234567890}`)
	source := m.Tracker.Original().Meta
	if _, err := apply(t, x, s, m); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"origin": "test", "count": "3", "ratio": "1.5", "big": "1e15",
		"name": "x-y", "none": "", "flag": "true",
		// A number the payload carries as it reads there; a computed one
		// in the encoder's form; lists and objects as compact JSON.
		"id": "1234567890123456789", "whole": "12345678.0", "frac": "123456789.5", "tiny": "1.5e-7",
		"e20": "1e20", "list": `[1,2.5,"a"]`, "obj": `{"a":null,"b":1}`,
		"huge": "123456789012345678901234567890", "computed": "12345678"}
	if !reflect.DeepEqual(m.Meta, want) {
		t.Errorf("meta %v, want %v", m.Meta, want)
	}
	if !reflect.DeepEqual(source, map[string]string{"origin": "test"}) {
		t.Errorf("the source message's meta changed: %v", source)
	}
}

func TestKey(t *testing.T) {
	x := newExec(&bytes.Buffer{})
	for _, tc := range []struct{ expr, want string }{
		{"payload.user", "u-7"},
		{"payload.n", "42"},
		{"payload.missing", ""},
		{`payload.user + ":" + string(payload.n)`, "u-7:42"},
		{`payload.f`, "12345678.0"}, // the digits the payload has
		{`string(payload.f)`, "12345678"},
		{`string(payload.f / 10)`, "1234567.8"},
		{`payload.f * 1e13`, "123456780000000000000"},
		{`payload.f * 1e14`, "1.2345678e+21"},
	} {
		m := newMsg(`{"user": "u-7", "n": 42, "f": 12345678.0}`)
		if _, err := apply(t, x, step(t, "key", prog(t, tc.expr)), m); err != nil {
			t.Fatal(err)
		}
		if m.Key != tc.want {
			t.Errorf("key %s = %q, want %q", tc.expr, m.Key, tc.want)
		}
	}
}

func TestSplit(t *testing.T) {
	x := newExec(&bytes.Buffer{})
	s := step(t, "split", prog(t, "payload.items"))
	m := newMsg(`{"items": [{"sku": "a"}, {"sku": "b"}, 3]}`)
	m.Partition, m.Offset = 2, 99
	out, err := apply(t, x, s, m)
	if err != nil || len(out) != 3 {
		t.Fatalf("split: %d messages, %v", len(out), err)
	}
	wantPayloads := []any{map[string]any{"sku": "a"}, map[string]any{"sku": "b"}, 3}
	for i, c := range out {
		if c == m || c.Tracker != m.Tracker || c.ID != fmt.Sprintf("id-1.%d", i) || c.Key != m.Key || c.Topic != m.Topic ||
			c.Partition != 2 || c.Offset != 99 || !c.Changed || !reflect.DeepEqual(c.Payload, wantPayloads[i]) {
			t.Errorf("child %d: %+v", i, c)
		}
		if !reflect.DeepEqual(c.Meta, map[string]string{"origin": "test"}) {
			t.Errorf("child %d meta %v", i, c.Meta)
		}
	}
	// Meta is copied on write: one child's change is its own.
	out[0].SetMeta("origin", "child-0")
	out[1].SetMeta("extra", "1")
	if m.Meta["origin"] != "test" || out[2].Meta["origin"] != "test" || out[1].Meta["origin"] != "test" ||
		m.Tracker.Original().Meta["origin"] != "test" || out[0].Meta["origin"] != "child-0" || out[1].Meta["extra"] != "1" {
		t.Errorf("meta leaked: parent %v, children %v %v %v", m.Meta, out[0].Meta, out[1].Meta, out[2].Meta)
	}
	if _, ok := m.Meta["extra"]; ok {
		t.Errorf("a child's new meta key reached the parent")
	}

	// Nothing to split: no messages, no error (the original is settled as filtered).
	out, err = apply(t, x, s, newMsg(`{"other": 1}`))
	if err != nil || len(out) != 0 {
		t.Errorf("no list: %v, %v", out, err)
	}
	out, err = apply(t, x, s, newMsg(`{"items": []}`))
	if err != nil || len(out) != 0 {
		t.Errorf("empty list: %v, %v", out, err)
	}
	_, err = apply(t, x, s, newMsg(`{"items": "abc"}`))
	if err == nil || err.Error() != "split needs a list, the expression gave a string\n | payload.items" {
		t.Errorf("not a list: %v", err)
	}
}

func TestRoute(t *testing.T) {
	x := newExec(&bytes.Buffer{})
	sinks := []string{"large", "small", "audit"}
	value := []any{
		registry.Config{"when": prog(t, "payload.amount > 1000"), "to": "large"},
		registry.Config{"when": prog(t, "payload.amount > 100"), "to": "audit"},
		registry.Config{"default": "small"},
	}
	s := step(t, "route", value, sinks...)
	for _, tc := range []struct {
		amount string
		want   int
	}{
		{"5000", 0}, // both rules match: the first wins
		{"500", 2},
		{"5", 1},
	} {
		m := newMsg(`{"amount": ` + tc.amount + `}`)
		out, err := apply(t, x, s, m)
		if err != nil || len(out) != 1 || out[0] != m {
			t.Fatalf("route: %v, %v", out, err)
		}
		if m.Route != tc.want {
			t.Errorf("amount %s: routed to %s, want %s", tc.amount, sinks[m.Route], sinks[tc.want])
		}
	}
	_, err := apply(t, x, s, newMsg(`{"amount": "a lot"}`))
	if err == nil {
		t.Errorf("a rule that cannot be evaluated must fail the message")
	}
}

func TestLog(t *testing.T) {
	var logs bytes.Buffer
	x := newExec(&logs)
	value := registry.Config{"message": prog(t, `{"user": payload.user}`), "level": "warn"}
	m := newMsg(`{"user": "u-1"}`)
	out, err := apply(t, x, step(t, "log", value), m)
	if err != nil || len(out) != 1 || out[0] != m || m.Changed {
		t.Fatalf("log: %v, %v", out, err)
	}
	var line map[string]any
	if err := json.Unmarshal(logs.Bytes(), &line); err != nil {
		t.Fatalf("log line %q: %v", logs.String(), err)
	}
	delete(line, "time")
	want := map[string]any{"level": "WARN", "msg": "log", "stage": "log-stage", "id": "id-1", "value": map[string]any{"user": "u-1"}}
	if !reflect.DeepEqual(line, want) {
		t.Errorf("log line %v, want %v", line, want)
	}

	// Numbers are written as in the payload's JSON, in JSON and in text logs.
	value = registry.Config{"message": prog(t, `{"f": payload.f, "n": payload.n}`), "level": "warn"}
	for _, c := range []struct {
		handler func(io.Writer, *slog.HandlerOptions) slog.Handler
		want    string
	}{
		{func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewJSONHandler(w, o) }, `"value":{"f":12345678,"n":1234567890123456789}}`},
		{func(w io.Writer, o *slog.HandlerOptions) slog.Handler { return slog.NewTextHandler(w, o) }, `value="{\"f\":12345678,\"n\":1234567890123456789}"`},
	} {
		var text bytes.Buffer
		tx := registry.NewExec(context.Background(), "test", message.JSON, slog.New(c.handler(&text, nil)))
		if _, err := apply(t, tx, step(t, "log", value), newMsg(`{"f": 12345678.0, "n": 1234567890123456789}`)); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(text.String(), c.want) {
			t.Errorf("log line %q, want it to hold %s", text.String(), c.want)
		}
	}

	// Below the logger's level nothing is written and the message passes.
	logs.Reset()
	value = registry.Config{"message": prog(t, `payload.user`), "level": "debug"}
	out, err = apply(t, x, step(t, "log", value), newMsg(`{"user": "u-2"}`))
	if err != nil || len(out) != 1 || logs.Len() != 0 {
		t.Errorf("debug log: out %v, err %v, wrote %q", out, err, logs.String())
	}
}

func TestRuntimeExpressionErrors(t *testing.T) {
	x := newExec(&bytes.Buffer{})
	for _, tc := range []struct {
		kind  string
		value any
	}{
		{"map", prog(t, "payload.x + 1")},
		{"filter", prog(t, "payload.x + 1 > 2")},
		{"key", prog(t, "payload.x + 1")},
		{"split", prog(t, "payload.x + 1")},
		{"set", entries(t, "y", "payload.x + 1")},
		{"meta", entries(t, "y", "payload.x + 1")},
		{"log", registry.Config{"message": prog(t, "payload.x + 1"), "level": "error"}},
	} {
		m := newMsg(`{"x": "a string"}`)
		out, err := apply(t, x, step(t, tc.kind, tc.value), m)
		if err == nil || !strings.Contains(err.Error(), "invalid operation: a string + an integer (1:11)\n | payload.x + 1") || len(out) != 0 {
			t.Errorf("%s: want the expression's error and no output, got %v, %v", tc.kind, out, err)
		}
		if !reflect.DeepEqual(m.Payload, map[string]any{"x": "a string"}) || m.Key != "k-1" || len(m.Meta) != 1 {
			t.Errorf("%s: a failed stage changed the message: %+v", tc.kind, m)
		}
	}
}

func TestBatchBuildsAPlan(t *testing.T) {
	spec, _ := registry.LookupStage("batch")
	built, err := spec.Build(&registry.Build{Stage: "b"}, registry.Config{"size": 50, "timeout": time.Second, "key": prog(t, "payload.k")})
	if err != nil {
		t.Fatal(err)
	}
	plan := built.Batch
	if plan == nil || built.Step != nil || plan.Size != 50 || plan.Timeout != time.Second || plan.Key == nil || plan.Key.Source != "payload.k" || plan.Reduce != nil {
		t.Errorf("plan %#v", built)
	}
}
