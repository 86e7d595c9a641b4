package flowtest_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/flowrun/flowrun/connectors/all"
	"github.com/flowrun/flowrun/flowtest"
	_ "github.com/flowrun/flowrun/middleware"
	_ "github.com/flowrun/flowrun/stages"
)

// write puts a flow and its test file in a new directory and returns
// the test file's path.
func write(t *testing.T, flow, tests string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, "f"+flowtest.Suffix)
	if err := os.WriteFile(p, []byte(tests), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func run(t *testing.T, file string) (*flowtest.Report, string) {
	t.Helper()
	r := flowtest.RunFiles(context.Background(), []string{file}, flowtest.Options{Timeout: 20 * time.Second})
	var b bytes.Buffer
	r.Text(&b)
	return r, b.String()
}

const batchFlow = `version: 1
name: b
source: {kafka: {brokers: ["${BROKERS}"], topic: in, group: g}}
concurrency: 1
stages:
  - batch: {size: 100, timeout: 1h, reduce: '{"n": len(batch), "ids": map(batch, .id)}'}
sink: {kafka: {brokers: ["${BROKERS}"], topic: out}}
`

func TestBatchFlushesOnTheVirtualClockWhileTheSourceIsOpen(t *testing.T) {
	file := write(t, batchFlow, `env: {BROKERS: "127.0.0.1:1"}   # nothing listens: the test needs no broker
tests:
  - name: a wait of the timeout flushes what came before it
    input:
      - payload: {id: 1}
      - payload: {id: 2}
      - wait: 1h
      - payload: {id: 3}
    expect:
      ordered: true
      outputs:
        sink:
          - payload: {n: 2, ids: [1, 2]}
          - payload: {n: 1, ids: [3]}
  - name: a shorter wait does not
    input:
      - payload: {id: 1}
      - wait: 59m
      - payload: {id: 2}
      - wait: 59m
      - payload: {id: 3}
    expect:
      outputs:
        sink:
          - payload: {n: 2, ids: [1, 2]}
          - payload: {n: 1, ids: [3]}
  - name: without a wait the drain flushes one batch
    input:
      - payload: {id: 1}
      - payload: {id: 2}
      - payload: {id: 3}
    expect:
      outputs:
        sink:
          - payload: {n: 3, ids: [1, 2, 3]}
`)
	start := time.Now()
	r, out := run(t, file)
	if r.ExitCode() != flowtest.ExitPassed {
		t.Fatalf("exit %d:\n%s", r.ExitCode(), out)
	}
	if took := time.Since(start); took > 10*time.Second {
		t.Errorf("a 1h timeout took %s of real time", took)
	}
	if !strings.Contains(out, "3 passed, 0 failed") {
		t.Fatalf("%s", out)
	}
}

const deadFlow = `version: 1
name: d
source: {stdin: {}}
stages:
  - filter: payload.qty > 0
  - name: total
    map: '{"id": payload.id, "total": payload.price * payload.qty}'
sink: {stdout: {}}
dead_letter: {stdout: {}}
`

func TestDeadLettersCountsAndConditions(t *testing.T) {
	file := write(t, deadFlow, `tests:
  - name: good, filtered, failed and undecodable messages
    input:
      - payload: {id: 1, price: 2.50, qty: 4}
      - payload: {id: 2, price: 1, qty: 0}
      - payload: {id: 3, price: "free", qty: 1}
        key: k3
      - raw: not json
    expect:
      outputs:
        sink:
          - payload: {id: 1, total: 10}
      dead_letter:
        - payload: {id: 3, price: "free", qty: 1}
          key: k3
          error_stage: total
          error: "invalid operation"
        - raw: not json
          error_stage: decode
      filtered: 1
      conditions:
        - payload.total >= 10
`)
	if r, out := run(t, file); r.ExitCode() != flowtest.ExitPassed {
		t.Fatalf("exit %d:\n%s", r.ExitCode(), out)
	}
}

func TestAFailureSaysWhereWithADiff(t *testing.T) {
	file := write(t, deadFlow, `tests:
  - name: wrong
    input:
      - payload: {id: 1, price: 2.50, qty: 4}
      - payload: {id: 3, price: "free", qty: 1}
    expect:
      outputs:
        sink:
          - payload: {id: 1, total: 11}
      dead_letter:
        - payload: {id: 3, price: "free", qty: 1}
          error_stage: total
          error: "no such error"
      filtered: 2
      conditions:
        - payload.total > 10
`)
	r, out := run(t, file)
	if r.ExitCode() != flowtest.ExitFailed {
		t.Fatalf("exit %d:\n%s", r.ExitCode(), out)
	}
	for _, want := range []string{
		"FAIL " + file + ":2:5: wrong",
		file + ":9:11: tests[0].expect.outputs.sink: the outputs to sink \"sink\" differ: expected 1, got 1, compared in any order (- expected, + got)",
		`- {"payload":{"id":1,"total":11}}`,
		`+ {"payload":{"id":1,"total":10}}`,
		file + ":11:9: tests[0].expect.dead_letter: dead-lettered messages differ",
		`error contains: no such error`,
		`error: invalid operation: a string * an integer`,
		file + ":14:17: tests[0].expect.filtered: filtered: expected 2, got 0",
		file + ":16:11: tests[0].expect.conditions[0]: condition is false on output 1 of sink sink",
		"0 passed, 1 failed in 1 file(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}
}

func TestAnInvalidTestFileSaysWhy(t *testing.T) {
	for _, c := range []struct{ tests, want string }{
		{"tests:\n  - name: x\n    inptu: []\n    expect: {}\n", `:3:5: tests[0].inptu: unknown key "inptu"; did you mean "input"?`},
		{"tests:\n  - input: [{payload: 1}]\n    expect: {outputs: {snik: []}}\n", `the flow has no sink "snik"; did you mean "sink"?`},
		{"tests:\n  - input: [{payload: 1}]\n    expect: {conditions: [paylod > 1]}\n", `:3:27: tests[0].expect.conditions[0]: unknown name paylod`},
		{"tests:\n  - input: [{wait: soon}]\n    expect: {}\n", `wait must be a positive duration`},
	} {
		r, out := run(t, write(t, deadFlow, c.tests))
		if r.ExitCode() != flowtest.ExitInvalid || !strings.Contains(out, c.want) {
			t.Errorf("exit %d, want 2 and %q in:\n%s", r.ExitCode(), c.want, out)
		}
	}
}

func TestUpdateWritesWhatTheFlowProduced(t *testing.T) {
	file := write(t, deadFlow, `# kept
tests:
  - name: golden
    input:
      - payload: {id: 1, price: 2.50, qty: 4}   # kept too
      - payload: {id: 7, price: 1.5, qty: 3}
        key: k7
        meta: {origin: test}
      - raw: not json
    expect:
      outputs:
        sink: []
`)
	r, _ := run(t, file)
	if r.ExitCode() != flowtest.ExitFailed {
		t.Fatalf("exit %d before the update", r.ExitCode())
	}
	if changed, _, err := flowtest.Update(r); err != nil || len(changed) != 1 {
		t.Fatalf("update: %v %v", changed, err)
	}
	r, out := run(t, file)
	if r.ExitCode() != flowtest.ExitPassed {
		t.Fatalf("exit %d after the update:\n%s", r.ExitCode(), out)
	}
	data, _ := os.ReadFile(file)
	for _, want := range []string{"# kept\n", "# kept too", "payload: {id: 1, total: 10}", "key: k7", "meta: {origin: test}",
		"raw: not json", "error_stage: decode"} {
		if !strings.Contains(string(data), want) {
			t.Errorf("no %q in the updated file:\n%s", want, data)
		}
	}
}

func TestEnvFillsTheFlowsVariables(t *testing.T) {
	flow := strings.Replace(deadFlow, "payload.qty > 0", "payload.qty > ${MIN_QTY}", 1)
	file := write(t, flow, `env: {MIN_QTY: "0"}
tests:
  - name: suite env
    input: [{payload: {id: 1, price: 1, qty: 2}}]
    expect: {filtered: 0}
  - name: test env wins
    env: {MIN_QTY: "5"}
    input: [{payload: {id: 1, price: 1, qty: 2}}]
    expect: {filtered: 1}
`)
	if r, out := run(t, file); r.ExitCode() != flowtest.ExitPassed {
		t.Fatalf("exit %d:\n%s", r.ExitCode(), out)
	}
}

func TestInputsFromFilesAndAFlowThatDoesNotCompile(t *testing.T) {
	file := write(t, deadFlow, `tests:
  - name: files
    input:
      - file: empty.jsonl
      - file: lines.jsonl
      - raw_file: body.json
        key: b
    expect:
      ordered: true
      outputs:
        sink:
          - payload: {id: 1, total: 2}
          - payload: {id: 2, total: 6}   # 1.5 * 4: a computed number is written shortest
          - payload: {id: 3, total: 1}
            key: b
      filtered: 1
`)
	dir := filepath.Dir(file)
	must(t, os.WriteFile(filepath.Join(dir, "lines.jsonl"), []byte("{\"id\":1,\"price\":1,\"qty\":2}\n\n{\"id\":2,\"price\":1.5,\"qty\":4}\n{\"id\":9,\"price\":1,\"qty\":0}\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "empty.jsonl"), nil, 0o644))
	must(t, os.WriteFile(filepath.Join(dir, "body.json"), []byte("{\n  \"id\": 3,\n  \"price\": 1,\n  \"qty\": 1\n}\n"), 0o644))
	r, out := run(t, file)
	if r.ExitCode() != flowtest.ExitPassed {
		t.Fatalf("exit %d:\n%s", r.ExitCode(), out)
	}

	// A flow changed so that it no longer compiles fails its tests with
	// the flow's own diagnostics (exit 1: the test file is fine).
	must(t, os.WriteFile(filepath.Join(dir, "f.yaml"), []byte(strings.Replace(deadFlow, "payload.qty > 0", "payload.qty >", 1)), 0o644))
	r, out = run(t, file)
	if r.ExitCode() != flowtest.ExitFailed || !strings.Contains(out, filepath.Join(dir, "f.yaml")+":5:") {
		t.Fatalf("exit %d:\n%s", r.ExitCode(), out)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Without a dead letter, failures are counted as the runtime settles
// them: discarded when no redelivery can help, nacked otherwise.
func TestNackedAndDiscardedCounts(t *testing.T) {
	flow := strings.Replace(deadFlow, "dead_letter: {stdout: {}}\n", "", 1)
	file := write(t, flow, `tests:
  - name: a failing expression is discarded
    input:
      - payload: {id: 1, price: 2, qty: 1}
      - payload: {id: 3, price: "free", qty: 1}
      - raw: not json
    expect:
      outputs:
        sink:
          - payload: {id: 1, total: 2}
      discarded: 2
      nacked: 0
`)
	if r, out := run(t, file); r.ExitCode() != flowtest.ExitPassed {
		t.Fatalf("exit %d:\n%s", r.ExitCode(), out)
	}
}

// A test whose flow cannot get to a wait fails, in bounded real time,
// saying why: here dedupe holds the second copy until the first is
// delivered, and the first sits in a batch only a wait would flush.
func TestAWaitThatCannotStartFailsTheTest(t *testing.T) {
	file := write(t, `version: 1
name: w
source: {stdin: {}}
concurrency: 1
middleware:
  - dedupe: {key: payload.id, ttl: 1m}
stages:
  - batch: {size: 10, timeout: 1h}
sink: {stdout: {}}
`, `tests:
  - name: stuck
    input:
      - payload: {id: 1}
      - payload: {id: 1}
      - wait: 1h
    expect: {filtered: 1}
`)
	r := flowtest.RunFiles(context.Background(), []string{file}, flowtest.Options{Timeout: time.Second})
	var b bytes.Buffer
	r.Text(&b)
	if r.ExitCode() != flowtest.ExitFailed || !strings.Contains(b.String(), "a wait could not start within 1s") {
		t.Fatalf("exit %d:\n%s", r.ExitCode(), b.String())
	}
}

// A test that checks nothing would pass whatever the flow does.
func TestATestThatCannotFailIsRejected(t *testing.T) {
	r, out := run(t, write(t, deadFlow, "tests:\n  - input: [{payload: 1}]\n    expect: {}\n"))
	if r.ExitCode() != flowtest.ExitInvalid || !strings.Contains(out, ":3:13: tests[0].expect: expect checks nothing") {
		t.Fatalf("exit %d:\n%s", r.ExitCode(), out)
	}
	r, out = run(t, write(t, deadFlow, "tests:\n  - input: [{payload: 1}]\n    expect: {ordered: true, outputs: {}}\n"))
	if r.ExitCode() != flowtest.ExitInvalid || !strings.Contains(out, "expect checks nothing") {
		t.Fatalf("exit %d:\n%s", r.ExitCode(), out)
	}

	// Every output filtered: conditions hold on none of them, which is
	// a failure unless outputs pins that there are none.
	file := write(t, deadFlow, `tests:
  - name: unpinned
    input: [{payload: {id: 1, price: 1, qty: 0}}]
    expect:
      conditions: [payload.total > 100]
  - name: pinned
    input: [{payload: {id: 1, price: 1, qty: 0}}]
    expect:
      outputs: {sink: []}
      conditions: [payload.total > 100]
`)
	r, out = run(t, file)
	if r.ExitCode() != flowtest.ExitFailed || !strings.Contains(out, "1 passed, 1 failed") ||
		!strings.Contains(out, file+":5:20: tests[0].expect.conditions[0]: no output to check the conditions on") {
		t.Fatalf("exit %d:\n%s", r.ExitCode(), out)
	}
}

// Paths in a test file are relative to it, unless absolute.
func TestAbsolutePathsAreKept(t *testing.T) {
	data := t.TempDir()
	must(t, os.WriteFile(filepath.Join(data, "flow.yaml"), []byte(deadFlow), 0o644))
	must(t, os.WriteFile(filepath.Join(data, "lines.jsonl"), []byte(`{"id":1,"price":1,"qty":2}`+"\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(data, "body.json"), []byte(`{"id":2,"price":1,"qty":3}`), 0o644))
	file := write(t, "not the flow under test", `flow: `+filepath.Join(data, "flow.yaml")+`
tests:
  - input:
      - file: `+filepath.Join(data, "lines.jsonl")+`
      - raw_file: `+filepath.Join(data, "body.json")+`
    expect:
      outputs:
        sink:
          - payload: {id: 1, total: 2}
          - payload: {id: 2, total: 3}
`)
	if r, out := run(t, file); r.ExitCode() != flowtest.ExitPassed {
		t.Fatalf("exit %d:\n%s", r.ExitCode(), out)
	}
}

// dedupe's ttl runs on the test's virtual clock: a wait longer than the
// ttl forgets the key.
func TestAWaitMovesTheDedupeTTL(t *testing.T) {
	file := write(t, `version: 1
name: d
source: {stdin: {}}
middleware:
  - dedupe: {key: payload.id, ttl: 1m}
stages:
  - map: payload
sink: {stdout: {}}
`, `tests:
  - name: a wait past the ttl
    input:
      - payload: {id: e-1}
      - wait: 2m
      - payload: {id: e-1}
    expect:
      outputs:
        sink: [{payload: {id: e-1}}, {payload: {id: e-1}}]
      filtered: 0
  - name: a wait within the ttl
    input:
      - payload: {id: e-1}
      - wait: 30s
      - payload: {id: e-1}
    expect:
      outputs:
        sink: [{payload: {id: e-1}}]
      filtered: 1
`)
	if r, out := run(t, file); r.ExitCode() != flowtest.ExitPassed {
		t.Fatalf("exit %d:\n%s", r.ExitCode(), out)
	}
}

// Ctrl-C stops at once: no further test runs, and the report says so.
func TestAnInterruptedRunStopsAndSaysSo(t *testing.T) {
	file := write(t, deadFlow, "tests:\n  - input: [{payload: {id: 1, price: 1, qty: 0}}]\n    expect: {filtered: 1}\n")
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	r := flowtest.RunFiles(ctx, []string{file, file}, flowtest.Options{Timeout: 20 * time.Second})
	var b bytes.Buffer
	r.Text(&b)
	if !r.Interrupted || len(r.Files) != 0 || r.ExitCode() != flowtest.ExitFailed ||
		!strings.Contains(b.String(), "interrupted: the tests after these did not run") {
		t.Fatalf("interrupted %v, %d file(s), exit %d:\n%s", r.Interrupted, len(r.Files), r.ExitCode(), b.String())
	}
}
