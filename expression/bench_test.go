package expression_test

import (
	"testing"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
)

// paymentBody is one line of the file workloads of bench/workload.
const paymentBody = `{"id":"p-000001","user":"u-123","amount":1234.5,"currency":"EUR","country":"DE","ts":"2026-01-01T00:00:01Z","tags":["web","vip"]}`

// decodedPayment is the payload as the runtime hands it to expressions.
func decodedPayment(b *testing.B) any {
	b.Helper()
	m := &message.Message{Raw: []byte(paymentBody)}
	if err := message.JSON.Decode(m); err != nil {
		b.Fatal(err)
	}
	return m.Payload
}

func compileOrFail(b *testing.B, src string) *expression.Program {
	b.Helper()
	p, err := expression.Compile(src, expression.MessageScope)
	if err != nil {
		b.Fatalf("compile %q: %v", src, err)
	}
	return p
}

// The filter of W2 on a decoded payment, with one reused Runner as a
// processor has.
func BenchmarkEvalFilter(b *testing.B) {
	p := compileOrFail(b, `payload.amount > 500 && payload.currency == "EUR"`)
	payload, r := decodedPayment(b), expression.NewRunner()
	meta := map[string]string{}
	b.ReportAllocs()
	for b.Loop() {
		v, err := r.Eval(p, payload, meta, "", "bench", "1")
		if err != nil || v != true {
			b.Fatalf("got %v, %v; want true", v, err)
		}
	}
}

// The map of W2: builds the new payload.
func BenchmarkEvalMap(b *testing.B) {
	p := compileOrFail(b, `{"id": payload.id, "user": payload.user, "amount_cents": payload.amount * 100, "big": payload.amount > 5000}`)
	payload, r := decodedPayment(b), expression.NewRunner()
	meta := map[string]string{}
	b.ReportAllocs()
	for b.Loop() {
		v, err := r.Eval(p, payload, meta, "", "bench", "1")
		if out, ok := v.(map[string]any); err != nil || !ok || out["amount_cents"] != 123450.0 || out["id"] != "p-000001" {
			b.Fatalf("got %v, %v", v, err)
		}
	}
}
