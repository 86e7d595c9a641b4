package expression

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/message"
)

// vmEval runs p on expr's VM only, the reference the fast path must match.
func vmEval(r *Runner, p *Program, env messageEnv) (any, error) {
	r.msg = env
	r.msg.Budget, r.msg.Step = &r.budget, r.step
	return r.run(p, &r.msg)
}

// sameValue is reflect.DeepEqual with NaN equal to NaN.
func sameValue(a, b any) bool {
	if x, ok := a.(float64); ok {
		if y, ok := b.(float64); ok && math.IsNaN(x) && math.IsNaN(y) {
			return true
		}
	}
	if x, ok := a.(map[string]any); ok {
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, v := range x {
			if w, ok := y[k]; !ok || !sameValue(v, w) {
				return false
			}
		}
		return true
	}
	return reflect.DeepEqual(a, b)
}

// checkAgrees fails when the fast path gives a value the VM would not.
func checkAgrees(t *testing.T, p *Program, env messageEnv) (fast bool) {
	t.Helper()
	r := NewRunner()
	want, werr := vmEval(r, p, env)
	got, ok := p.fast(&env)
	if !ok {
		return false
	}
	if werr != nil {
		t.Fatalf("%s on %v: fast path gave %#v, the VM fails: %v", p.Source, env.Payload, got, werr)
	}
	if !sameValue(got, want) {
		t.Fatalf("%s on %v: fast path gave %#v (%T), the VM %#v (%T)", p.Source, env.Payload, got, got, want, want)
	}
	return true
}

func decode(t *testing.T, s string) any {
	t.Helper()
	var v any
	if err := json.Unmarshal([]byte(s), &v); err != nil {
		t.Fatal(err)
	}
	return v
}

// The shapes of the example flows take the fast path, and give exactly
// what the VM gives.
func TestFastPathTakesCommonShapes(t *testing.T) {
	payment := decode(t, `{"id":"p-1","user":"u-1","amount":1234.5,"currency":"EUR","n":3,"ok":true,"nested":{"a":{"b":2}}}`)
	env := messageEnv{Payload: payment, Meta: map[string]string{"event_id": "e1"}, Key: "k", Topic: "t", ID: "i"}
	for _, src := range []string{
		`payload.amount > 500 && payload.currency == "EUR"`,
		`{"id": payload.id, "user": payload.user, "amount_cents": payload.amount*100, "big": payload.amount > 5000}`,
		`{"id": payload.id, "user": payload.user, "cents": int(payload.amount * 100)}`,
		`payload.user`,
		`payload.nested.a.b + 1`,
		`payload["currency"] != "USD" || !payload.ok`,
		`meta.event_id`,
		`meta.missing == ""`,
		`key + "/" + topic + "/" + id`,
		`payload.missing ?? "none"`,
		`payload.n / 2`,
		`payload.n * 2 - 7`,
		`-payload.amount < 0 ? "neg" : "pos"`,
		`float(payload.n) >= 3.0`,
		`payload.amount == 1234.5 and payload.n == 3`,
		`{"a": 1, "a": 2}`,
		`payload`,
		`nil == payload.missing`,
		`int(payload.n) % 2 == 1`,
		`int(round(payload.amount * 100))`,
		`string(payload.amount) + "/" + string(payload.n)`,
	} {
		p, err := Compile(src, MessageScope)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if p.fast == nil {
			t.Errorf("%s: no fast path", src)
			continue
		}
		if !checkAgrees(t, p, env) {
			t.Errorf("%s: the fast path handed this payload to the VM", src)
		}
	}
}

// Values the fast path does not handle go to the VM, which gives its own
// result or error: a missing field compared with a number, a string
// field used as a bool, a field read from a list.
func TestFastPathLeavesTheRestToTheVM(t *testing.T) {
	env := messageEnv{Payload: decode(t, `{"s":"x","list":[1,2]}`)}
	for _, src := range []string{
		`payload.missing > 500`,
		`payload.s && key == ""`,
		`payload.list.x == 1`,
		`!payload.s`,
		`payload.s - 1`,
	} {
		p, err := Compile(src, MessageScope)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if p.fast == nil {
			t.Fatalf("%s: no fast path", src)
		}
		if _, ok := p.fast(&env); ok {
			t.Errorf("%s: the fast path answered; it must leave %v to the VM", src, env.Payload)
		}
		// Through the Runner the answer is the VM's: an error here.
		if _, err := NewRunner().Eval(p, env.Payload, nil, "", "", ""); err == nil {
			t.Errorf("%s: Eval succeeded; the VM fails on it", src)
		}
	}
}

// Programs with names or operators outside the subset have no fast path.
func TestFastPathAbsentOutsideTheSubset(t *testing.T) {
	for _, src := range []string{`now()`, `uuid()`, `len(payload.list)`, `payload.s in ["a", "b"]`, `payload?.x`, `[1, 2]`} {
		p, err := Compile(src, MessageScope)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if p.fast != nil {
			t.Errorf("%s: has a fast path", src)
		}
	}
}

// Random expressions over random payloads: whenever the fast path
// answers, the VM gives the same value and no error.
func TestFastPathMatchesVMOnRandomInput(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 11))
	answered := 0
	const cases = 20000
	for range cases {
		src := randomExpr(rng, 3)
		p, err := Compile(src, MessageScope)
		if err != nil || p.fast == nil {
			continue
		}
		env := messageEnv{Payload: randomPayload(rng), Meta: map[string]string{"m": randomString(rng)}, Key: randomString(rng), Topic: "t", ID: "i"}
		if checkAgrees(t, p, env) {
			answered++
		}
	}
	// The generator must exercise the fast path, not only the fallback.
	if answered < cases/10 {
		t.Fatalf("the fast path answered only %d of %d random cases", answered, cases)
	}
}

var (
	randomFields = []string{"payload.i", "int(payload.i)", "int(payload.f)", "string(payload.f)", "round(payload.f)", "payload.f", "payload.s", "payload.b", "payload.n", "payload.missing", "payload.o.i", "payload.o", "meta.m", "key"}
	randomConsts = []string{"0", "1", "-3", "500", "2.5", "0.1", "9007199254740993", "9223372036854775807", "1e19", `"a"`, `"EUR"`, `""`, "true", "false", "nil"}
	binaryOps    = []string{"==", "!=", "<", "<=", ">", ">=", "+", "-", "*", "/", "%", "**", "&&", "||", "??"}
)

func randomExpr(rng *rand.Rand, depth int) string {
	if depth == 0 || rng.IntN(4) == 0 {
		if rng.IntN(2) == 0 {
			return randomFields[rng.IntN(len(randomFields))]
		}
		return randomConsts[rng.IntN(len(randomConsts))]
	}
	switch rng.IntN(8) {
	case 0:
		return "!(" + randomExpr(rng, depth-1) + ")"
	case 1:
		return "-(" + randomExpr(rng, depth-1) + ")"
	case 2:
		return fmt.Sprintf("(%s ? %s : %s)", randomExpr(rng, depth-1), randomExpr(rng, depth-1), randomExpr(rng, depth-1))
	case 3:
		return []string{"int", "float", "string", "round"}[rng.IntN(4)] + "(" + randomExpr(rng, depth-1) + ")"
	case 4:
		return fmt.Sprintf(`{"x": %s, "y": %s}`, randomExpr(rng, depth-1), randomExpr(rng, depth-1))
	}
	return "(" + randomExpr(rng, depth-1) + " " + binaryOps[rng.IntN(len(binaryOps))] + " " + randomExpr(rng, depth-1) + ")"
}

func randomPayload(rng *rand.Rand) any {
	values := []any{nil, 0.0, 1.0, -2.5, 500.0, 1e300, math.Inf(1), math.NaN(), 9007199254740992.0, "", "a", "EUR", true, false, []any{1.0},
		0, 1, -1, 2, 7, 500, math.MaxInt64, math.MinInt64, 9007199254740993, // ints, as the decoder gives them
		9223372036854775808.0, -9223372036854775808.0, 9223372036854774784.0, 1e20, 1306.85, 12345678.0, "12"}
	pick := func() any { return values[rng.IntN(len(values))] }
	p := map[string]any{}
	for _, k := range []string{"i", "f", "s", "b", "n"} {
		if rng.IntN(5) > 0 {
			p[k] = pick()
		}
	}
	if rng.IntN(2) == 0 {
		p["o"] = map[string]any{"i": pick()}
	} else if rng.IntN(2) == 0 {
		p["o"] = pick()
	}
	if rng.IntN(20) == 0 {
		return pick() // not an object at all
	}
	return p
}

func randomString(rng *rand.Rand) string {
	return strings.Repeat("a", rng.IntN(2))
}

// Every operator over every pair of operand kinds: ints from int(),
// floats, big ints that float64 cannot tell apart, strings, bools, nil.
func TestFastPathMatchesVMOnEveryOperandPair(t *testing.T) {
	payload := decode(t, `{"one":1,"two":2,"half":0.5,"big":9007199254740992,"s":"a","t":true}`).(map[string]any)
	for k, v := range map[string]any{"imax": math.MaxInt64, "imin": math.MinInt64, "izero": 0, "ineg": -7, "f63": 9223372036854775808.0} {
		payload[k] = v // ints as the decoder gives them; int64's edges
	}
	env := messageEnv{Payload: payload, Meta: map[string]string{"m": "b"}}
	operands := []string{"int(payload.one)", "int(payload.two)", "payload.one", "payload.half", "1", "2", "2.5", "-1",
		"9007199254740993", "int(payload.big)", `payload.s`, `"a"`, `meta.m`, "payload.t", "false", "nil", "payload.missing",
		"payload.imax", "payload.imin", "payload.izero", "payload.ineg", "payload.f63", "9223372036854775807", "0"}
	answered := 0
	for _, op := range binaryOps {
		for _, a := range operands {
			for _, b := range operands {
				src := a + " " + op + " " + b
				p, err := Compile(src, MessageScope)
				if err != nil || p.fast == nil {
					continue
				}
				if checkAgrees(t, p, env) {
					answered++
				}
			}
		}
	}
	if answered < 1000 {
		t.Fatalf("the fast path answered only %d operand pairs", answered)
	}
}

// On a message.Fields payload the closures read the decoded fields, and
// hand anything else (the whole payload, a field not decoded) to the VM,
// which gets the payload decoded whole: the same results either way.
func TestFastPathOnDecodedFields(t *testing.T) {
	raw := []byte(`{"id":"p-1","amount":1234.5,"currency":"EUR","nested":{"n":2},"other":true}`)
	m := &message.Message{Raw: raw}
	if err := message.JSON.DecodeFields(m, []string{"amount", "currency", "id", "nested"}); err != nil {
		t.Fatal(err)
	}
	whole := &message.Message{Raw: raw}
	if err := message.JSON.Decode(whole); err != nil {
		t.Fatal(err)
	}
	for src, closures := range map[string]bool{
		`payload.amount > 500 && payload.currency == "EUR"`:                             true,
		`{"id": payload.id, "cents": int(payload.amount * 100), "n": payload.nested.n}`: true,
		`payload.other`: false, // not decoded: the VM reads it from the whole payload
		`payload`:       false,
	} {
		p, err := Compile(src, MessageScope)
		if err != nil {
			t.Fatal(err)
		}
		env := messageEnv{Payload: m.Payload}
		if _, ok := p.fast(&env); ok != closures {
			t.Errorf("%s: closures answered %v, want %v", src, ok, closures)
		}
		got, err := NewRunner().Eval(p, m.Payload, nil, "", "", "")
		want, werr := NewRunner().Eval(p, whole.Payload, nil, "", "", "")
		if err != nil || werr != nil || !sameValue(got, want) {
			t.Errorf("%s: on Fields %#v (%v), on the whole payload %#v (%v)", src, got, err, want, werr)
		}
	}
}

// A program that runs on the VM but does not read the payload does not
// pay for decoding a Fields payload whole.
func TestVMProgramWithoutPayloadDoesNotDecodeFields(t *testing.T) {
	m := &message.Message{Raw: []byte(`{"a":1,"b":"two","c":[1,2,3],"d":{"e":"f"}}`)}
	if err := message.JSON.DecodeFields(m, []string{"a"}); err != nil {
		t.Fatal(err)
	}
	p, err := Compile(`key matches "^k"`, MessageScope)
	if err != nil || p.fast != nil {
		t.Fatalf("compile: %v; want a VM program", err)
	}
	r := NewRunner()
	allocs := func(payload any) float64 {
		return testing.AllocsPerRun(100, func() {
			if _, err := r.Eval(p, payload, nil, "k1", "", ""); err != nil {
				t.Fatal(err)
			}
		})
	}
	if withFields, without := allocs(m.Payload), allocs(nil); withFields != without {
		t.Fatalf("%v allocations per run on a Fields payload, %v on none: the payload was decoded", withFields, without)
	}
}
