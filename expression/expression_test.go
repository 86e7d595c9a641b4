package expression

import (
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func compile(t *testing.T, src string, scope Scope) *Program {
	t.Helper()
	p, err := Compile(src, scope)
	if err != nil {
		t.Fatalf("compile %q: %v", src, err)
	}
	return p
}

// eval runs a message-scoped expression on payload.
func eval(t *testing.T, r *Runner, src string, payload any) (any, error) {
	t.Helper()
	return r.Eval(compile(t, src, MessageScope), payload, map[string]string{"m": "v"}, "key-1", "topic-1", "id-1")
}

func TestMessageNames(t *testing.T) {
	r := NewRunner()
	v, err := eval(t, r, `[payload.a, meta.m, key, topic, id]`, map[string]any{"a": 1.5})
	if want := []any{1.5, "v", "key-1", "topic-1", "id-1"}; err != nil || !reflect.DeepEqual(v, want) {
		t.Errorf("got %v, %v; want %v", v, err, want)
	}
	if r.msg.Payload != nil || r.msg.Meta != nil {
		t.Errorf("the runner keeps the last message alive: %+v", r.msg)
	}
}

func TestEnv(t *testing.T) {
	t.Setenv("FLOWRUN_EXPR_TEST", "from-env")
	r := NewRunner()
	for src, want := range map[string]any{
		`env("FLOWRUN_EXPR_TEST")`:        "from-env",
		`env("FLOWRUN_EXPR_TEST_UNSET")`:  "",
		`env("FLOWRUN_EXPR" + "_TEST")`:   "from-env",
		`env("FLOWRUN_EXPR_TEST") == key`: false,
	} {
		if v, err := eval(t, r, src, nil); err != nil || v != want {
			t.Errorf("%s = %v, %v; want %v", src, v, err, want)
		}
	}
	if _, err := Compile(`env(1)`, MessageScope); err == nil {
		t.Errorf("env(1) compiled; want a type error")
	}
	// A payload value of the wrong type fails at run time, as an error.
	if _, err := eval(t, r, `env(payload)`, 42.0); err == nil {
		t.Errorf("env(42) ran; want an error")
	}
}

func TestUUID(t *testing.T) {
	r := NewRunner()
	v, err := eval(t, r, `[uuid(), uuid()]`, nil)
	if err != nil {
		t.Fatal(err)
	}
	ids := v.([]any)
	for _, id := range ids {
		u, err := uuid.Parse(id.(string))
		if err != nil || u.Version() != 4 {
			t.Errorf("%v is not a v4 UUID (%v)", id, err)
		}
	}
	if ids[0] == ids[1] {
		t.Errorf("two calls gave the same UUID %v", ids[0])
	}
}

func TestJSONFunctions(t *testing.T) {
	r := NewRunner()
	payload := map[string]any{"id": "p1", "n": 2.5, "tags": []any{"a", true, nil}}
	v, err := eval(t, r, `fromJSON(toJSON(payload))`, payload)
	if err != nil || !reflect.DeepEqual(v, payload) {
		t.Errorf("round trip: %#v, %v", v, err)
	}
	v, err = eval(t, r, `fromJSON(payload).items[1]`, `{"items": [1, {"x": "y"}]}`)
	if want := map[string]any{"x": "y"}; err != nil || !reflect.DeepEqual(v, want) {
		t.Errorf("fromJSON: %#v, %v", v, err)
	}
	v, err = eval(t, r, `toJSON(payload.tags)`, payload)
	if s, ok := v.(string); err != nil || !ok || strings.Join(strings.Fields(s), "") != `["a",true,null]` {
		t.Errorf("toJSON: %#v, %v", v, err)
	}
	if _, err := eval(t, r, `fromJSON(payload)`, `{"broken": `); err == nil {
		t.Errorf("fromJSON of broken JSON gave no error")
	}
}

func TestNow(t *testing.T) {
	r := NewRunner()
	before := time.Now()
	v, err := eval(t, r, `now()`, nil)
	after := time.Now()
	ts, ok := v.(time.Time)
	if err != nil || !ok || ts.Before(before) || ts.After(after) {
		t.Errorf("now() = %v, %v; want a time between %v and %v", v, err, before, after)
	}
	v, err = eval(t, r, `now().Year() >= 2024 && now() - duration("1h") < now()`, nil)
	if err != nil || v != true {
		t.Errorf("time arithmetic: %v, %v", v, err)
	}
}

func TestMemoryBudget(t *testing.T) {
	r := NewRunner()
	for _, src := range []string{
		`len(1..10000000)`,
		`map(1..10000000, # * 2)`,
		`repeat("x", 100000000)`,
	} {
		v, err := eval(t, r, src, nil)
		if err == nil || !strings.Contains(err.Error(), "budget exceeded") || v != nil {
			t.Errorf("%s = %v, %v; want a memory budget error", src, v, err)
		}
	}
	// The runner still works after a failed evaluation.
	if v, err := eval(t, r, `len(1..1000)`, nil); err != nil || v != 1000 {
		t.Errorf("after the budget error: %v, %v", v, err)
	}
}

func TestScopes(t *testing.T) {
	r := NewRunner()
	reduce := compile(t, `{"key": batch_key, "n": len(batch), "sum": sum(map(batch, #.n))}`, ReduceScope)
	v, err := r.EvalReduce(reduce, []any{map[string]any{"n": 1.0}, map[string]any{"n": 2.5}}, "eu")
	if want := map[string]any{"key": "eu", "n": 2, "sum": 3.5}; err != nil || !reflect.DeepEqual(v, want) {
		t.Errorf("reduce: %#v, %v", v, err)
	}
	gen := compile(t, `{"n": counter, "even": counter % 2 == 0}`, GenerateScope)
	v, err = r.EvalGenerate(gen, 4)
	if want := map[string]any{"n": 4, "even": true}; err != nil || !reflect.DeepEqual(v, want) {
		t.Errorf("generate: %#v, %v", v, err)
	}
	for _, tc := range []struct {
		src   string
		scope Scope
	}{
		{"batch", MessageScope},
		{"counter", MessageScope},
		{"payload", ReduceScope},
		{"key", GenerateScope},
	} {
		_, err := Compile(tc.src, tc.scope)
		var ee *Error
		if !errors.As(err, &ee) || ee.Message != "unknown name "+tc.src {
			t.Errorf("%s in scope %v: %v", tc.src, tc.scope.Names(), err)
		}
	}
}

// An unknown name inside int() or string() is an error too: expr's second
// check, after its patchers, skips the arguments of calls it typed.
func TestUnknownNameInsideAConversion(t *testing.T) {
	for _, src := range []string{"int(paylod * 2)", "string(paylod)", `{"a": int(paylod.x)}`, "int(string(nope))"} {
		_, err := Compile(src, MessageScope)
		var ee *Error
		if !errors.As(err, &ee) || !strings.HasPrefix(ee.Message, "unknown name ") {
			t.Errorf("%s: %v, want unknown name", src, err)
		}
	}
}

func TestCompileErrorPosition(t *testing.T) {
	_, err := Compile("payload.a &&\n  paylod.b", MessageScope)
	var ee *Error
	if !errors.As(err, &ee) {
		t.Fatalf("want an *Error, got %v", err)
	}
	if ee.Line != 2 || ee.Column != 2 || ee.Message != "unknown name paylod" || ee.Snippet != "\n |   paylod.b\n | ..^" {
		t.Errorf("got %+v", ee)
	}
}

func TestUsesPayload(t *testing.T) {
	for src, want := range map[string]bool{
		`payload.a > 1`:           true,
		`len(payload) + 1`:        true,
		`meta.x == "y"`:           false,
		`key + topic + id`:        false,
		`{"k": key, "v": uuid()}`: false,
	} {
		if got := compile(t, src, MessageScope).UsesPayload(); got != want {
			t.Errorf("UsesPayload(%s) = %v, want %v", src, got, want)
		}
	}
}

func TestToJSONIsOneLine(t *testing.T) {
	p, err := Compile(`toJSON({"a": [1, 2], "b": payload.x})`, MessageScope)
	if err != nil {
		t.Fatal(err)
	}
	v, err := NewRunner().Eval(p, map[string]any{"x": "y"}, nil, "", "", "")
	if err != nil || v != `{"a":[1,2],"b":"y"}` {
		t.Fatalf("got %#v, %v", v, err)
	}
}
