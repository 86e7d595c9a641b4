// Package examples_test runs every example flow the way a user would:
// the flowrun binary, on the built-in connectors, with exact outputs
// checked. Flows that need a broker are validated here and run in their
// connector's own tests.
package examples_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flowrun-examples")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "flowrun")
	if out, err := exec.Command("go", "build", "-o", binary, "../cmd/flowrun").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build flowrun: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// flowrun runs the binary with OUT_DIR set and returns stdout and stderr.
func flowrun(t *testing.T, outDir string, args ...string) (string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), "OUT_DIR="+outDir, "FLOWRUN_EXAMPLES=.")
	cmd.Dir = "."
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("flowrun %v: %v\nstderr:\n%s", args, err, stderr.String())
	}
	return stdout.String(), stderr.String()
}

// exampleFlows are the example flows, without their test files.
func exampleFlows() []string {
	all, _ := filepath.Glob("flows/*.yaml")
	var files []string
	for _, f := range all {
		if !strings.HasSuffix(f, ".test.yaml") {
			files = append(files, f)
		}
	}
	return files
}

// Every example flow has tests (flowrun test, run by make test).
func TestEveryExampleHasATest(t *testing.T) {
	for _, f := range exampleFlows() {
		if _, err := os.Stat(strings.TrimSuffix(f, ".yaml") + ".test.yaml"); err != nil {
			t.Errorf("%s has no test file: %v", f, err)
		}
	}
}

func TestEveryExampleValidates(t *testing.T) {
	files := exampleFlows()
	if len(files) < 6 {
		t.Fatalf("only %d example flows", len(files))
	}
	_, stderr := flowrun(t, t.TempDir(), append([]string{"validate"}, files...)...)
	if strings.Count(stderr, ": ok") != len(files) {
		t.Fatalf("validate output:\n%s", stderr)
	}
}

type payment struct {
	ID       string  `json:"id"`
	User     string  `json:"user"`
	Amount   float64 `json:"amount"`
	Currency string  `json:"currency"`
	Country  string  `json:"country"`
}

func payments(t *testing.T) []payment {
	t.Helper()
	f, err := os.Open("data/payments.jsonl")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []payment
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var p payment
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func lines(s string) []string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return nil
	}
	return strings.Split(s, "\n")
}

func TestDemoPayments(t *testing.T) {
	stdout, stderr := flowrun(t, t.TempDir(), "run", "--http-addr", "", "flows/demo-payments.yaml")
	var want []string
	for c := 1; c <= 2000; c++ {
		amount := float64((c*7919)%1000) + 0.5
		if amount > 900 && []string{"EUR", "USD", "GBP"}[c%3] == "EUR" {
			want = append(want, fmt.Sprintf(`{"cents":%d,"id":"p-%d","user":"u-%d"}`, int(math.Round(amount*100)), c, c%7))
		}
	}
	got := lines(stdout)
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("got %d lines, want %d:\n%s", len(got), len(want), strings.Join(got[:min(5, len(got))], "\n"))
	}
	summary := fmt.Sprintf("in 2000, out %d, filtered %d, dead-lettered 0, nacked 0", len(want), 2000-len(want))
	if !strings.Contains(stderr, summary) {
		t.Fatalf("summary missing %q:\n%s", summary, stderr)
	}
}

type envelope struct {
	ID      string            `json:"id"`
	Key     string            `json:"key"`
	Meta    map[string]string `json:"meta"`
	Payload map[string]any    `json:"payload"`
}

func TestFilterReshape(t *testing.T) {
	stdout, _ := flowrun(t, t.TempDir(), "run", "--http-addr", "", "flows/filter-reshape.yaml")
	want := map[string]payment{}
	for _, p := range payments(t) {
		if p.Amount > 500 && p.Currency == "EUR" {
			want[p.ID] = p
		}
	}
	got := lines(stdout)
	if len(got) != len(want) || len(want) == 0 {
		t.Fatalf("got %d envelopes, want %d", len(got), len(want))
	}
	for _, l := range got {
		var e envelope
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatalf("bad envelope %q: %v", l, err)
		}
		p, ok := want[e.Payload["id"].(string)]
		if !ok {
			t.Fatalf("unexpected message %s", l)
		}
		risk := e.Payload["risk"].(map[string]any)
		if e.Key != p.User || e.Meta["country"] != p.Country || e.Meta["pipeline"] != "payments" ||
			e.Payload["amount_cents"].(float64) != math.Round(p.Amount*100) || risk["large"] != (p.Amount > 5000) {
			t.Fatalf("envelope %s does not match %+v", l, p)
		}
	}
}

func TestRouteByAmount(t *testing.T) {
	out := t.TempDir()
	flowrun(t, out, "run", "--http-addr", "", "flows/route-by-amount.yaml")
	want := map[string][]string{}
	for _, p := range payments(t) {
		switch {
		case p.Amount >= 5000:
			want["large"] = append(want["large"], p.ID)
		case p.Currency != "EUR":
			want["foreign"] = append(want["foreign"], p.ID)
		default:
			want["normal"] = append(want["normal"], p.ID)
		}
	}
	for name, ids := range want {
		data, err := os.ReadFile(filepath.Join(out, "payments-"+name+".jsonl"))
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, l := range lines(string(data)) {
			var p payment
			if err := json.Unmarshal([]byte(l), &p); err != nil {
				t.Fatal(err)
			}
			got = append(got, p.ID)
		}
		slices.Sort(got)
		if !slices.Equal(got, ids) {
			t.Fatalf("%s: got %v, want %v", name, got, ids)
		}
	}
}

func TestBatchPerCountry(t *testing.T) {
	stdout, _ := flowrun(t, t.TempDir(), "run", "--http-addr", "", "flows/batch-per-country.yaml")
	count, total := map[string]int{}, map[string]float64{}
	for _, p := range payments(t) {
		count[p.Country]++
		total[p.Country] += p.Amount
	}
	gotCount, gotTotal := map[string]int{}, map[string]float64{}
	for _, l := range lines(stdout) {
		var r struct {
			Country string  `json:"country"`
			Count   int     `json:"count"`
			Total   float64 `json:"total"`
		}
		if err := json.Unmarshal([]byte(l), &r); err != nil {
			t.Fatal(err)
		}
		if r.Count > 5 {
			t.Fatalf("batch of %d over size 5: %s", r.Count, l)
		}
		gotCount[r.Country] += r.Count
		gotTotal[r.Country] += r.Total
	}
	for c := range count {
		if gotCount[c] != count[c] || math.Abs(gotTotal[c]-total[c]) > 1e-6 {
			t.Fatalf("%s: got %d/%.2f, want %d/%.2f", c, gotCount[c], gotTotal[c], count[c], total[c])
		}
	}
}

func TestSplitOrders(t *testing.T) {
	stdout, stderr := flowrun(t, t.TempDir(), "run", "--http-addr", "", "flows/split-orders.yaml")
	data, _ := os.ReadFile("data/orders.jsonl")
	want := 0
	for _, l := range lines(string(data)) {
		var o struct {
			Items []any `json:"items"`
		}
		_ = json.Unmarshal([]byte(l), &o)
		want += len(o.Items)
	}
	got := lines(stdout)
	if len(got) != want {
		t.Fatalf("got %d items, want %d", len(got), want)
	}
	for _, l := range got {
		var e envelope
		_ = json.Unmarshal([]byte(l), &e)
		p := e.Payload
		if e.Key != p["order"] || p["line_total"].(float64) != p["qty"].(float64)*p["price"].(float64) {
			t.Fatalf("bad item %s", l)
		}
	}
	if !strings.Contains(stderr, fmt.Sprintf("in 5, out %d,", want)) {
		t.Fatalf("summary: %s", stderr)
	}
}

func TestDeadLetter(t *testing.T) {
	out := t.TempDir()
	_, stderr := flowrun(t, out, "run", "--http-addr", "", "flows/dead-letter.yaml")
	ok, _ := os.ReadFile(filepath.Join(out, "events-ok.jsonl"))
	if got := strings.Join(lines(string(ok)), "|"); got != `{"id":1,"total":10}|{"id":3,"total":30}|{"id":5,"total":10}` {
		t.Fatalf("ok file: %s", got)
	}
	dead, _ := os.ReadFile(filepath.Join(out, "events-dead.jsonl"))
	var stages, payloads []string
	for _, l := range lines(string(dead)) {
		var e struct {
			Meta    map[string]string `json:"meta"`
			Payload json.RawMessage   `json:"payload"`
		}
		if err := json.Unmarshal([]byte(l), &e); err != nil {
			t.Fatal(err)
		}
		if e.Meta["flow"] != "dead-letter" || e.Meta["error"] == "" {
			t.Fatalf("dead letter meta %v", e.Meta)
		}
		stages = append(stages, e.Meta["error_stage"]+"/"+e.Meta["attempts"])
		payloads = append(payloads, string(e.Payload))
	}
	slices.Sort(stages)
	slices.Sort(payloads)
	if !slices.Equal(stages, []string{"decode/1", "total/3"}) {
		t.Fatalf("dead letter stages/attempts %v", stages)
	}
	if !slices.Equal(payloads, []string{`"this line is not JSON"`, `{"id":2,"price":"free","qty":1}`}) {
		t.Fatalf("dead letter payloads %v", payloads)
	}
	if !strings.Contains(stderr, "in 5, out 3, filtered 0, dead-lettered 2, nacked 0") {
		t.Fatalf("summary: %s", stderr)
	}
}

func TestDedupeAndLog(t *testing.T) {
	stdout, stderr := flowrun(t, t.TempDir(), "run", "--http-addr", "", "flows/dedupe-and-log.yaml")
	seen := map[string]int{}
	for _, l := range lines(stdout) {
		var e struct {
			EventID string `json:"event_id"`
		}
		_ = json.Unmarshal([]byte(l), &e)
		seen[e.EventID]++
	}
	if len(seen) != 10 || len(lines(stdout)) >= 30 {
		t.Fatalf("%d distinct of %d lines: dedupe did not drop repeats", len(seen), len(lines(stdout)))
	}
	if !strings.Contains(stderr, "msg=log") {
		t.Fatalf("no log lines in stderr:\n%s", stderr)
	}
}
