package compiler_test

import (
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/message"
)

// specFlow is the flow of the flow contract, with ctest-queue standing in for kafka.
const specFlow = `version: 1                       # required
name: large-eur-payments
description: EUR payments over 500, batched to the ledger topic

source:
  ctest-queue:
    brokers: ["${KAFKA_BROKERS:-127.0.0.1:9092}"]
    topic: payments.created
    group: large-eur-payments
  codec: json

concurrency: 8
max_demand: 64
max_in_flight_bytes: 1000000
partition_by: payload.user

middleware:
  - retry: {max_retries: 3, initial_interval: 100ms, max_interval: 5s}
  - timeout: 2s
  - throttle: {per_second: 1000}
  - dedupe: {key: meta.event_id, ttl: 10m}

stages:
  - filter: payload.amount > 500 && payload.currency == "EUR"
  - name: shape
    map: '{"id": payload.id, "user": payload.user, "cents": int(payload.amount * 100)}'
  - batch: {size: 50, timeout: 1s}

sink:
  ctest-queue: {brokers: ["${KAFKA_BROKERS:-127.0.0.1:9092}"], topic: payments.large}

dead_letter:
  ctest-queue: {brokers: ["${KAFKA_BROKERS:-127.0.0.1:9092}"], topic: payments.dlq}
`

func TestCompileSpecFlow(t *testing.T) {
	f := mustCompile(t, specFlow)
	if f.Name != "large-eur-payments" || f.File != "f.yaml" || f.Description != "EUR payments over 500, batched to the ledger topic" {
		t.Errorf("header: %q %q %q", f.Name, f.File, f.Description)
	}
	if f.Concurrency != 8 || f.MaxDemand != 64 || f.MaxInFlightBytes != 1_000_000 || f.PartitionBy == nil || f.PartitionBy.Source != "payload.user" || !f.NeedsPayload {
		t.Errorf("settings: concurrency %d max_demand %d partition_by %v needs payload %v", f.Concurrency, f.MaxDemand, f.PartitionBy, f.NeedsPayload)
	}
	src := f.Source
	if src.Kind != "ctest-queue" || src.Role != "source" || src.Codec != message.JSON || src.NodeID != "source" {
		t.Errorf("source: %+v", src)
	}
	cfg := src.Config
	if got := strings.Join(cfg.Strings("brokers"), ","); got != "127.0.0.1:9092" {
		t.Errorf("brokers %q: the ${VAR:-default} was not applied", got)
	}
	if cfg.String("topic") != "payments.created" || cfg.String("group") != "large-eur-payments" {
		t.Errorf("source config %v", cfg)
	}
	// Defaults of the fields not given.
	if cfg.Duration("timeout") != 0 || cfg.Int("max_bytes") != 1<<20 || cfg.String("acks") != "all" {
		t.Errorf("defaults: timeout %v max_bytes %v acks %q", cfg["timeout"], cfg["max_bytes"], cfg.String("acks"))
	}
	var mw []string
	for _, m := range f.Middleware {
		mw = append(mw, m.Name)
	}
	if got := strings.Join(mw, " "); got != "retry timeout throttle dedupe" {
		t.Errorf("middleware %q", got)
	}
	var steps []string
	for _, s := range f.Steps {
		steps = append(steps, s.Name+":"+s.Kind)
	}
	if got := strings.Join(steps, " "); got != "filter_0:filter shape:map" {
		t.Errorf("steps %q", got)
	}
	if f.Batch == nil || f.Batch.Name != "batch_2" || f.Batch.Plan.Size != 50 || f.Batch.Plan.Timeout != time.Second || f.Batch.Plan.Key != nil || f.Batch.Plan.Reduce != nil {
		t.Errorf("batch %+v", f.Batch)
	}
	if len(f.Sinks) != 1 || f.Sinks[0].Role != "sink" || f.Sinks[0].Config.String("topic") != "payments.large" {
		t.Errorf("sinks %+v", f.Sinks)
	}
	if f.DeadLetter == nil || f.DeadLetter.Config.String("topic") != "payments.dlq" || f.DeadLetter.NodeID != "dead_letter" {
		t.Errorf("dead letter %+v", f.DeadLetter)
	}
	wantGraph(t, f.Graph,
		"source processors(filter_0 (filter),shape (map)) batch_2 sink dead_letter",
		"source->processors processors->batch_2 batch_2->sink processors->dead_letter")

	const mermaid = `flowchart LR
  source["source<br/>ctest-queue payments.created"]
  processors["processors<br/>8 processors, max_demand 64<br/>• filter_0 (filter)<br/>• shape (map)"]
  batch_2["batch_2<br/>batch size 50, timeout 1s"]
  sink["sink<br/>ctest-queue payments.large"]
  dead_letter["dead_letter<br/>ctest-queue payments.dlq"]
  source --> processors
  processors --> batch_2
  batch_2 --> sink
  processors -.-> dead_letter
`
	if got := f.Graph.Mermaid(); got != mermaid {
		t.Errorf("Mermaid:\n%s\nwant:\n%s", got, mermaid)
	}
	const dot = `digraph flow {
  rankdir=LR;
  node [shape=box];
  "source" [label="source\nctest-queue payments.created"];
  "processors" [label="processors\n8 processors, max_demand 64\n- filter_0 (filter)\n- shape (map)"];
  "batch_2" [label="batch_2\nbatch size 50, timeout 1s"];
  "sink" [label="sink\nctest-queue payments.large"];
  "dead_letter" [label="dead_letter\nctest-queue payments.dlq"];
  "source" -> "processors";
  "processors" -> "batch_2";
  "batch_2" -> "sink";
  "processors" -> "dead_letter" [style=dashed];
}
`
	if got := f.Graph.DOT(); got != dot {
		t.Errorf("DOT:\n%s\nwant:\n%s", got, dot)
	}
}

func TestCompileRoutedFlow(t *testing.T) {
	f := mustCompile(t, head+"source: {ctest-gen: {count: 3, payload: '{\"n\": counter}'}}\nconcurrency: 2\n"+two+`stages:
  - set: {kind.size: 'payload.n > 1 ? "large" : "small"'}
  - name: by-size
    route:
      - {when: payload.kind.size == "large", to: large}
      - {default: small}
  - name: per-kind
    batch: {size: 10, key: payload.kind.size, reduce: '{"kind": batch_key, "n": len(batch)}'}
`)
	if len(f.Sinks) != 2 || f.Sinks[0].Role != "large" || f.Sinks[1].Role != "small" {
		t.Fatalf("sinks %+v", f.Sinks)
	}
	if f.Concurrency != 2 || f.MaxDemand != 1024 || f.MaxInFlightBytes != 64<<20 || f.DeadLetter != nil {
		t.Errorf("concurrency %d max_demand %d max_in_flight_bytes %d dead letter %v", f.Concurrency, f.MaxDemand, f.MaxInFlightBytes, f.DeadLetter)
	}
	if p := f.Batch.Plan; p.Size != 10 || p.Timeout != time.Second || p.Key.Source != "payload.kind.size" || p.Reduce == nil {
		t.Errorf("batch plan %+v", p)
	}
	wantGraph(t, f.Graph,
		"source processors(set_0 (set),by-size (route)) per-kind sink:large sink:small",
		"source->processors processors->per-kind per-kind->sink:large per-kind->sink:small")
	mermaid := f.Graph.Mermaid()
	for _, line := range []string{
		`  per_kind["per-kind<br/>batch size 10, timeout 1s, key payload.kind.size, reduce"]`,
		`  sink_large["sink:large<br/>ctest-out large"]`,
		`  per_kind -->|"default"| sink_small`,
		`  per_kind -->|"1: payload.kind.size == #quot;large#quot;"| sink_large`,
	} {
		if !strings.Contains(mermaid, line+"\n") {
			t.Errorf("Mermaid lacks %q:\n%s", line, mermaid)
		}
	}
	if dot := f.Graph.DOT(); !strings.Contains(dot, `  "per-kind" -> "sink:large" [label="1: payload.kind.size == \"large\""];`+"\n") {
		t.Errorf("DOT lacks the edge to sink:large:\n%s", dot)
	}
}

func TestCompileQuotesInGraphLabels(t *testing.T) {
	f := mustCompile(t, head+source+sink+"stages:\n  - batch: {size: 2, key: 'payload.a + \"x\"'}\n")
	if got, want := f.Graph.Mermaid(), `key payload.a + #quot;x#quot;"]`; !strings.Contains(got, want) {
		t.Errorf("Mermaid does not escape quotes (want %s):\n%s", want, got)
	}
	if got, want := f.Graph.DOT(), `key payload.a + \"x\""];`; !strings.Contains(got, want) {
		t.Errorf("DOT does not escape quotes (want %s):\n%s", want, got)
	}
}

// wantGraph compares the graph's nodes (ID, with the processors' stages
// in parentheses) and edges with space-separated lists.
func wantGraph(t *testing.T, g *compiler.Graph, nodes, edges string) {
	t.Helper()
	var ns, es []string
	for _, n := range g.Nodes {
		id := n.ID
		if len(n.Stages) > 0 {
			id += "(" + strings.Join(n.Stages, ",") + ")"
		}
		ns = append(ns, id)
	}
	for _, e := range g.Edges {
		es = append(es, e.From+"->"+e.To)
	}
	if got := strings.Join(ns, " "); got != nodes {
		t.Errorf("nodes:\n got %s\nwant %s", got, nodes)
	}
	if got := strings.Join(es, " "); got != edges {
		t.Errorf("edges:\n got %s\nwant %s", got, edges)
	}
}

// A sink's target is shown, but of a URL only its scheme and host: its
// userinfo, path or query may hold a secret.
func TestGraphLabelsHideURLSecrets(t *testing.T) {
	f := mustCompile(t, head+source+"sink: {ctest-out: {path: 'https://bot:s3cret@hooks.example.com/services/T0/XYZ?token=abc'}}\n")
	got := f.Graph.Mermaid()
	if strings.Contains(got, "s3cret") || strings.Contains(got, "XYZ") || strings.Contains(got, "abc") ||
		!strings.Contains(got, "ctest-out https://hooks.example.com\"") {
		t.Errorf("sink label shows the password or not the target:\n%s", got)
	}
}
