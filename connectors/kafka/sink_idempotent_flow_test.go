package kafka_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/poll"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// A flow with an idempotent sink and topic_expr: each message on the
// topic its payload names, written by a producer with an id, and a
// message whose topic is not a topic name alone to the dead letter.
func TestFlowIdempotentSinkTopicExpression(t *testing.T) {
	b := startKafka(t, kfake.SeedTopics(1, "orders"), kfake.SeedTopics(2, "orders.eu"), kfake.SeedTopics(3, "orders.us"),
		kfake.SeedTopics(1, "dlq"))
	var in []*kgo.Record
	want := map[string][]string{}
	for i := range 30 {
		region := []string{"eu", "us", "eu"}[i%3]
		if i == 7 {
			region = "no such/region"
		}
		v := fmt.Sprintf(`{"id":%d,"region":"%s"}`, i, region)
		in = append(in, &kgo.Record{Topic: "orders", Key: []byte(fmt.Sprint("k", i%4)), Value: []byte(v)})
		want["orders."+region] = append(want["orders."+region], v)
	}
	produceTo(t, b.Addr(), in...)
	f := startFlow(t, b.Addr(), `
version: 1
name: by-region-idempotent
source:
  kafka: {brokers: ["$BROKER"], topic: orders, group: by-region}
sink:
  kafka: {brokers: ["$BROKER"], topic_expr: '"orders." + payload.region', idempotent: true, compression: zstd}
dead_letter:
  kafka: {brokers: ["$BROKER"], topic: dlq}
`)
	poll.Until(t, "every message settled", 20*time.Second, func() bool {
		acked, _ := metric(t, f.reg, "flowrun_messages_total", map[string]string{"outcome": "acked"})
		dl, _ := metric(t, f.reg, "flowrun_messages_total", map[string]string{"outcome": "dead_lettered"})
		return acked == 29 && dl == 1
	})
	for _, topic := range []string{"orders.eu", "orders.us"} {
		var got []string
		for _, r := range readAll(t, b.Addr(), topic) {
			if r.ProducerID < 0 {
				t.Errorf("%s: record %s written without a producer id", topic, r.Value)
			}
			got = append(got, string(r.Value))
		}
		slices.Sort(got)
		slices.Sort(want[topic])
		if !slices.Equal(got, want[topic]) {
			t.Errorf("%s holds %v, want %v", topic, got, want[topic])
		}
	}
	if dead := readAll(t, b.Addr(), "dlq"); len(dead) != 1 || string(dead[0].Value) != want["orders.no such/region"][0] {
		t.Fatalf("dead letters %v, want the message of region %q", dead, "no such/region")
	}
}

// The compiler refuses an idempotent sink with acks other than all.
func TestIdempotentSinkNeedsAcksAll(t *testing.T) {
	for _, tc := range []struct{ sink, want string }{
		{`topic: out, idempotent: true`, ""},
		{`topic: out, idempotent: true, acks: all`, ""},
		{`topic: out, idempotent: true, acks: leader`, "idempotent: true needs acks: all"},
		{`topic: out, acks: leader`, ""},
	} {
		got := compileSink(t, tc.sink)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("sink {%s}: diagnostics %q, want %q", tc.sink, got, tc.want)
		}
	}
}
