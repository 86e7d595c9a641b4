package runtime_test

import (
	"strings"
	"testing"
	"time"
)

func TestMiddlewareFailureNamesTheMiddleware(t *testing.T) {
	newSource(t, "mwn", `{"id": 1}`, `{"id": "x"}`)
	newSink(t, "mwn-out")
	dlq := newSink(t, "mwn-dlq")
	runFlow(t, `
version: 1
name: mwn
source: {tsrc: {name: mwn}}
middleware:
  - dedupe: {key: 'payload.id + 1'}
stages:
  - map: payload
sink: {tsink: {name: mwn-out}}
dead_letter: {tsink: {name: mwn-dlq}}
`)
	dead := dlq.messages()
	if len(dead) != 1 || dead[0].Meta["error_stage"] != "dedupe" || !strings.Contains(dead[0].Meta["error"], "dedupe") {
		t.Fatalf("dead letters %v", dead)
	}
}

func TestPartialWriteFailsOnlyTheRejectedMessages(t *testing.T) {
	src := newSource(t, "pw", `{"n":1}`, `{"n":"bad"}`, `{"n":3}`)
	sink, dlq := newSink(t, "pw-out"), newSink(t, "pw-dlq")
	sink.reject = "bad"
	sink.delay = 20 * time.Millisecond // so the three arrive in one merged write
	runFlow(t, `
version: 1
name: pw
source: {tsrc: {name: pw}}
concurrency: 1
middleware:
  - retry: {max_retries: 3, initial_interval: 1ms, max_interval: 2ms}
sink: {tsink: {name: pw-out}}
dead_letter: {tsink: {name: pw-dlq}}
`)
	if got := strings.Join(sink.bodies(), ","); got != `{"n":1},{"n":3}` {
		t.Fatalf("sink got %s (each good message exactly once)", got)
	}
	if d := dlq.messages(); len(d) != 1 || string(d[0].Body) != `{"n":"bad"}` || d[0].Meta["error_stage"] != "sink" {
		t.Fatalf("dead letters %v", d)
	}
	if acked, nacked := src.counts(); acked != 3 || nacked != 0 {
		t.Fatalf("acked %d nacked %d", acked, nacked)
	}
}
