package kafka_test

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/internal/poll"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// topic_expr sends each message to the topic its payload names; a
// message whose topic is not a topic name fails alone, to the dead letter.
func TestFlowTopicExpression(t *testing.T) {
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
		in = append(in, &kgo.Record{Topic: "orders", Value: []byte(v)})
		want["orders."+region] = append(want["orders."+region], v)
	}
	produceTo(t, b.Addr(), in...)
	f := startFlow(t, b.Addr(), `
version: 1
name: by-region
source:
  kafka: {brokers: ["$BROKER"], topic: orders, group: by-region}
sink:
  kafka: {brokers: ["$BROKER"], topic_expr: '"orders." + payload.region'}
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
			got = append(got, string(r.Value))
		}
		slices.Sort(got)
		slices.Sort(want[topic])
		if !slices.Equal(got, want[topic]) {
			t.Errorf("%s holds %v, want %v", topic, got, want[topic])
		}
	}
	dead := readAll(t, b.Addr(), "dlq")
	if len(dead) != 1 || string(dead[0].Value) != want["orders.no such/region"][0] ||
		!strings.Contains(hdrs(dead[0])["error"], "not") {
		t.Fatalf("dead letters %v, want the message of region %q with its error", dead, "no such/region")
	}
	t.Logf("dead letter error: %s", hdrs(dead[0])["error"])
}

// compileSink compiles a flow with sink as its kafka sink's settings.
func compileSink(t *testing.T, sink string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flow.yaml")
	yaml := "version: 1\nname: t\nsource:\n  kafka: {brokers: [\"127.0.0.1:9\"], topic: in}\nsink:\n  kafka: {brokers: [\"127.0.0.1:9\"], " + sink + "}\n"
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	flow, ds := compiler.CompileFile(path)
	if flow != nil && len(ds) == 0 {
		return ""
	}
	return fmt.Sprint(ds)
}

// The sink's topic is checked when the flow compiles: a fixed name must
// be a topic name (an expression there is pointed to topic_expr), and
// topic_expr must compile.
func TestSinkTopicIsValidated(t *testing.T) {
	for _, tc := range []struct{ sink, want string }{
		{`topic: orders.eu`, ""},
		{`topic_expr: '"orders." + payload.region'`, ""},
		{`topic: '"orders." + payload.region'`, `write the expression in topic_expr: topic_expr: '"orders." + payload.region'`},
		{`topic_expr: '"orders." +'`, "topic_expr"},
		{`topic: a, topic_expr: '"b"'`, "both set"},
		{`acks: all`, "no topic"},
	} {
		got := compileSink(t, tc.sink)
		if tc.want == "" && got != "" || !strings.Contains(got, tc.want) {
			t.Errorf("sink {%s}: diagnostics %q, want %q", tc.sink, got, tc.want)
		}
	}
}
