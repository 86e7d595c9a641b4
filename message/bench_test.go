package message_test

import (
	"bytes"
	"testing"

	"github.com/flowrun/flowrun/message"
)

// paymentBody is one line of the file workloads of bench/workload.
const paymentBody = `{"id":"p-000001","user":"u-123","amount":1234.5,"currency":"EUR","country":"DE","ts":"2026-01-01T00:00:01Z","tags":["web","vip"]}`

// Decoding a payment as the runtime does, once per message.
func BenchmarkDecodeJSON(b *testing.B) {
	raw := []byte(paymentBody)
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		m := message.Message{Raw: raw}
		if err := message.JSON.Decode(&m); err != nil {
			b.Fatal(err)
		}
		if p, ok := m.Payload.(map[string]any); !ok || p["amount"] != 1234.5 {
			b.Fatalf("payload %v", m.Payload)
		}
	}
}

// Encoding a changed payment payload into the body a sink writes.
func BenchmarkEncodeJSON(b *testing.B) {
	m := message.Message{Raw: []byte(paymentBody)}
	if err := message.JSON.Decode(&m); err != nil {
		b.Fatal(err)
	}
	m.SetPayload(m.Payload)
	b.SetBytes(int64(len(paymentBody)))
	b.ReportAllocs()
	for b.Loop() {
		m.Body = nil
		if err := message.JSON.Encode(&m); err != nil {
			b.Fatal(err)
		}
		if !bytes.Equal(m.Body, []byte(paymentBody)) {
			b.Fatalf("body %s", m.Body)
		}
	}
}

// Decoding only the fields W2 reads, as the runtime does for flows that
// read the payload by field name.
func BenchmarkDecodeFields(b *testing.B) {
	raw := []byte(paymentBody)
	names := []string{"amount", "currency", "id", "user"}
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		m := message.Message{Raw: raw}
		if err := message.JSON.DecodeFields(&m, names); err != nil {
			b.Fatal(err)
		}
		if v, ok := m.Payload.(*message.Fields).Get("amount"); !ok || v != 1234.5 {
			b.Fatalf("amount %v", v)
		}
	}
}
