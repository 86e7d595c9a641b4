package livegraph_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/compiler"
	_ "github.com/flowrun/flowrun/connectors/all"
	"github.com/flowrun/flowrun/livegraph"
	"github.com/flowrun/flowrun/redact"
	"github.com/flowrun/flowrun/runtime"
	_ "github.com/flowrun/flowrun/stages"
	"github.com/prometheus/client_golang/prometheus"
)

const flow = `version: 1
name: page
concurrency: 2
max_demand: 8
source: {generate: {count: 500, payload: '{"n": counter}'}}
stages:
  - name: odd
    filter: payload.n % 2 == 1
  - name: fails
    map: 'payload.n % 5 == 0 ? payload.n.x : payload'
  - name: by-size
    route:
      - {when: payload.n > 100, to: big}
      - {default: small}
sinks:
  big: {file: {path: big.jsonl}}
  small: {http: {url: "http://me:hunter2@127.0.0.1:1/in", retry_for: 0s}}
dead_letter: {drop: {}}
`

func TestGraphJSONAfterARun(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "flow.yaml")
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(flow, "big.jsonl", filepath.Join(dir, "big.jsonl"))), 0o644); err != nil {
		t.Fatal(err)
	}
	f, ds := compiler.CompileFile(path)
	if f == nil {
		t.Fatal(ds)
	}
	reg := prometheus.NewRegistry()
	p := runtime.New(f, runtime.Options{Logger: slog.New(slog.DiscardHandler), Metrics: reg})
	page := livegraph.New(f, p, reg, &redact.Redactor{})
	mux := http.NewServeMux()
	page.Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	sum, err := p.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}

	var v livegraph.View
	if err := json.Unmarshal(get(t, srv, "/graph.json"), &v); err != nil {
		t.Fatal(err)
	}
	if v.Flow != "page" || v.Totals.In != 500 || v.Totals.In != sum.In || v.Interval <= 0 {
		t.Fatalf("view %+v", v)
	}
	stages := map[string]livegraph.StageView{}
	var demand *livegraph.Demand
	for _, n := range v.Nodes {
		for _, s := range n.Stages {
			stages[s.Name] = s
		}
		if n.Demand != nil {
			demand = n.Demand
		}
	}
	// 250 odd numbers pass the filter; 50 of them are multiples of 5 and fail the map.
	if s := stages["odd"]; s.Kind != "filter" || s.Rate <= 0 || s.Failures != 0 {
		t.Errorf("stage odd %+v", s)
	}
	if s := stages["fails"]; s.Kind != "map" || s.Failures != 50 {
		t.Errorf("stage fails %+v: want 50 failures", s)
	}
	if demand == nil || demand.Total != 16 || demand.Open != 16 {
		t.Errorf("demand %+v: want all 16 credits open after the run", demand)
	}
	edges := map[string]livegraph.EdgeView{}
	for _, e := range v.Edges {
		edges[e.From+"->"+e.To] = e
	}
	if e := edges["source->processors"]; e.Messages != 500 || e.Rate <= 0 || e.Capacity != 16 || e.Buffered != 0 {
		t.Errorf("source edge %+v", e)
	}
	if e := edges["processors->sink:big"]; e.Label != "1: payload.n > 100" || e.Messages != 160 {
		t.Errorf("big edge %+v: want 160 messages (odd, not a multiple of 5, over 100)", e)
	}
	if e := edges["processors->sink:small"]; e.Label != "default" || e.Messages != 40 {
		t.Errorf("small edge %+v: want 40 messages", e)
	}
	labels := map[string]string{}
	for _, n := range v.Nodes {
		labels[n.ID] = n.Label
	}
	if l := labels["sink:big"]; l != "file "+filepath.Join(dir, "big.jsonl") {
		t.Errorf("sink:big label %q: want its target", l)
	}
	if l := labels["sink:small"]; l != "http http://127.0.0.1:1" {
		t.Errorf("sink:small label %q: want its url's scheme and host only", l)
	}
	if e := edges["processors->dead_letter"]; e.Messages != 90 {
		t.Errorf("dead letter edge %+v: want 50 map failures and 40 failed http writes", e)
	}
}

func TestPageAndAssetsAreEmbedded(t *testing.T) {
	mux := http.NewServeMux()
	livegraph.New(&compiler.Flow{Name: "x", Graph: &compiler.Graph{}}, nil, prometheus.NewRegistry(), nil).Mount(mux)
	srv := httptest.NewServer(mux)
	defer srv.Close()
	page := string(get(t, srv, "/"))
	for _, ref := range []string{`src="assets/graph.js"`, `href="assets/graph.css"`} {
		if !strings.Contains(page, ref) {
			t.Errorf("page lacks %s", ref)
		}
	}
	if js := string(get(t, srv, "/assets/graph.js")); !strings.Contains(js, `fetch("graph.json"`) {
		t.Error("graph.js does not poll graph.json")
	}
	if strings.Contains(page, `src="http`) || strings.Contains(page, `href="http`) || strings.Contains(page, "//cdn") {
		t.Error("the page loads something from the network; it must work offline")
	}
	resp, err := srv.Client().Get(srv.URL + "/nothing")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("/nothing: %d; want 404, the page only at /", resp.StatusCode)
	}
}

// get asks srv with its own client, whose connections srv.Close closes.
func get(t *testing.T, srv *httptest.Server, path string) []byte {
	t.Helper()
	url := srv.URL + path
	resp, err := srv.Client().Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v\n%s", url, resp.StatusCode, err, b)
	}
	return b
}
