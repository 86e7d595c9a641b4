package cli_test

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/cli"
)

func flowrun(stdin string, args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = cli.Main(args, cli.IO{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb})
	return code, out.String(), errb.String()
}

// copyExample copies an example flow and its test file to a new
// directory, the flow changed by edit.
func copyExample(t *testing.T, name string, edit func(string) string) string {
	t.Helper()
	dir := t.TempDir()
	for _, f := range []string{name + ".yaml", name + ".test.yaml"} {
		src, err := os.ReadFile(filepath.Join("..", "examples", "flows", f))
		if err != nil {
			t.Fatal(err)
		}
		if f == name+".yaml" {
			src = []byte(edit(string(src)))
		}
		if err := os.WriteFile(filepath.Join(dir, f), src, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestTestPassesEveryExample(t *testing.T) {
	code, out, errs := flowrun("", "test", filepath.Join("..", "examples", "flows"))
	if code != cli.ExitOK || !strings.Contains(out, " passed, 0 failed in 15 file(s)") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

func TestTestFailsAChangedExampleWithADiffAndJUnit(t *testing.T) {
	dir := copyExample(t, "demo-payments", func(s string) string {
		return strings.Replace(s, "payload.amount * 100", "payload.amount * 10", 1)
	})
	test := filepath.Join(dir, "demo-payments.test.yaml")
	code, out, _ := flowrun("", "test", filepath.Join(dir, "demo-payments.yaml"))
	if code != 1 {
		t.Fatalf("exit %d, want 1\n%s", code, out)
	}
	for _, want := range []string{
		"FAIL " + test + ":3:5: large EUR payments in cents, keyed by user",
		test + `:13:11: tests[0].expect.outputs.sink: the outputs to sink "sink" differ: expected 2, got 2`,
		`- {"key":"u-1","payload":{"cents":95050,"id":"p-1","user":"u-1"}}` + "\n" +
			`        + {"key":"u-1","payload":{"cents":9505,"id":"p-1","user":"u-1"}}`,
		"0 passed, 1 failed in 1 file(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("no %q in:\n%s", want, out)
		}
	}

	code, out, _ = flowrun("", "test", "--format", "junit", dir)
	if code != 1 {
		t.Fatalf("junit: exit %d", code)
	}
	var suites struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name    string `xml:"name,attr"`
				Line    int    `xml:"line,attr"`
				Failure *struct {
					Message string `xml:"message,attr"`
					Text    string `xml:",chardata"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(out), &suites); err != nil {
		t.Fatalf("not XML: %v\n%s", err, out)
	}
	if suites.Tests != 1 || suites.Failures != 1 || len(suites.Suites) != 1 || len(suites.Suites[0].Cases) != 1 {
		t.Fatalf("junit: %+v\n%s", suites, out)
	}
	c := suites.Suites[0].Cases[0]
	if c.Name != "large EUR payments in cents, keyed by user" || c.Line != 3 || c.Failure == nil ||
		!strings.Contains(c.Failure.Message, ":13:11:") || !strings.Contains(c.Failure.Text, `"cents":9505,`) {
		t.Fatalf("junit test case %+v", c)
	}

	// --update takes the changed outputs as the expected ones.
	if code, out, errs := flowrun("", "test", "--update", dir); code != 0 || !strings.Contains(errs, "updated "+test) {
		t.Fatalf("update: exit %d\n%s%s", code, out, errs)
	}
	if src, _ := os.ReadFile(test); !strings.Contains(string(src), "cents: 9505,") || !strings.Contains(string(src), "# Tests of demo-payments.yaml") {
		t.Fatalf("updated file:\n%s", src)
	}
}

func TestTestExitCodes(t *testing.T) {
	dir := copyExample(t, "demo-payments", func(s string) string { return s })
	test := filepath.Join(dir, "demo-payments.test.yaml")
	if code, out, _ := flowrun("", "test", "--format", "json", test); code != 0 || !strings.Contains(out, `"status": "passed"`) {
		t.Fatalf("exit %d\n%s", code, out)
	}
	if err := os.WriteFile(test, []byte("tests:\n  - name: x\n    input: [{payload: 1}]\n    expect: {filterd: 1}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, out, _ := flowrun("", "test", dir)
	if code != 2 || !strings.Contains(out, test+`:4:14: tests[0].expect.filterd: unknown key "filterd"; did you mean "filtered"?`) {
		t.Fatalf("invalid file: exit %d\n%s", code, out)
	}
	if code, _, errs := flowrun("", "test", t.TempDir()); code != 1 || !strings.Contains(errs, "no test files") {
		t.Fatalf("no tests: exit %d\n%s", code, errs)
	}
	if code, _, errs := flowrun("", "test", "--format", "xml", dir); code != 2 || !strings.Contains(errs, "--format must be") {
		t.Fatalf("bad flag: exit %d\n%s", code, errs)
	}
}

func TestEval(t *testing.T) {
	for _, c := range []struct {
		stdin     string
		args      []string
		code      int
		out, errs string
	}{
		{`{"a":2}` + "\n", []string{"payload.a * 21"}, 0, "42\n", ""},
		{"", []string{"--payload", `{"id":12345678901234567890123,"p":1.50}`, `{"id": payload.id, "p": payload.p}`}, 0,
			`{"id":12345678901234567890123,"p":1.50}` + "\n", ""},
		{`{"a":1}` + "\n\n" + `{"a":"x"}` + "\n" + `{"a":3}` + "\n", []string{"payload.a * 2"}, 1, "2\n6\n",
			"line 3: invalid operation: a string * an integer (1:11)\n | payload.a * 2\n | ..........^\n"},
		{`{"a":1}` + "\n" + `{"a":4}` + "\n", []string{"--scope", "reduce", "--batch-key", `"k"`, `{"key": batch_key, "sum": sum(map(batch, .a))}`}, 0,
			`{"key":"k","sum":5}` + "\n", ""},
		// a reduce result keeps the bytes of what it takes unchanged, as in a flow
		{`{"id":18446744073709551616,"c":"caf\u00e9","x":1.50}` + "\n" + `{"id":2}` + "\n",
			[]string{"--scope", "reduce", "--batch-key", `"caf\u00e9"`, `{"first": batch[0], "k": batch_key, "n": len(batch)}`}, 0,
			`{"first":{"id":18446744073709551616,"c":"caf\u00e9","x":1.50},"k":"caf\u00e9","n":2}` + "\n", ""},
		{"", []string{"--payload", `{}`, "--key", "u1", "--meta", "region=eu", "--raw", `key + "@" + meta.region`}, 0, "u1@eu\n", ""},
		{"", []string{"--payload", `{}`, "paylod.a"}, 2, "", "expression:1:1: unknown name paylod\n     | paylod.a\n     | ^\n"},
		{"", []string{"--payload", `{}`, "batch"}, 2, "", "unknown name batch (batch and batch_key exist only in a batch stage's reduce)"},
		{"not json\n", []string{"payload"}, 1, "", "line 1: decode json"},
		{"", []string{"--payload", "{\n  \"a\": 1.50\n}", "payload.a"}, 0, "1.50\n", ""},
		{"", []string{"--payload", "{", "payload"}, 1, "", "--payload: unexpected end of JSON input"},
		{strings.Repeat("x", 4<<20) + "\n", []string{"payload"}, 1, "", "flowrun eval: line 1 is longer than 4 MiB: one JSON document per line\n"},
		{`{"a":1}` + "\n", []string{"--batch-key", `"k"`, "payload.a"}, 2, "", "--batch-key is for --scope reduce: the message scope has no such name"},
		{`{"a":1}` + "\n", []string{"--scope", "reduce", "--key", "k", "len(batch)"}, 2, "", "--key is for --scope message: the reduce scope has no such name"},
		{`{"a":1}` + "\n", []string{"--scope", "reduce", "--meta", "a=b", "len(batch)"}, 2, "", "--meta is for --scope message"},
	} {
		code, out, errs := flowrun(c.stdin, append([]string{"eval"}, c.args...)...)
		if code != c.code || out != c.out || !strings.Contains(errs, c.errs) {
			t.Errorf("eval %q: exit %d, stdout %q, stderr %q; want %d, %q, %q", c.args, code, out, errs, c.code, c.out, c.errs)
		}
	}
}

// writeFlowAndTests puts a flow f.yaml and its tests f.test.yaml in a new
// directory and returns the test file's path.
func writeFlowAndTests(t *testing.T, flow, tests string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	test := filepath.Join(dir, "f.test.yaml")
	if err := os.WriteFile(test, []byte(tests), 0o644); err != nil {
		t.Fatal(err)
	}
	return test
}

// A run that got stuck produced partial outputs: --update must not
// write them as the expectation.
func TestUpdateNeverWritesARunThatDidNotComplete(t *testing.T) {
	tests := `tests:
  - name: stuck
    input:
      - payload: {id: 1}
      - payload: {id: 1}
      - wait: 1h
    expect: {filtered: 1}
`
	test := writeFlowAndTests(t, `version: 1
name: w
source: {stdin: {}}
concurrency: 1
middleware:
  - dedupe: {key: payload.id, ttl: 1m}
stages:
  - batch: {size: 10, timeout: 1h}
sink: {stdout: {}}
`, tests)
	code, out, errs := flowrun("", "test", "--update", "--timeout", "1s", test)
	if code != 1 || !strings.Contains(errs, test+":2:5: stuck: not updated: its run did not complete; fix that first") ||
		strings.Contains(errs, "updated "+test) || !strings.Contains(out, "a wait could not start within 1s") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
	if src, _ := os.ReadFile(test); string(src) != tests {
		t.Fatalf("the test file changed:\n%s", src)
	}
}

// A flow named NAME.yml is the one NAME.test.yaml tests.
func TestTestAFlowNamedYml(t *testing.T) {
	test := writeFlowAndTests(t, "not the flow", `tests:
  - input: [{payload: {id: 1, price: 2, qty: 3}}]
    expect:
      outputs:
        sink: [{payload: {id: 1, total: 6}}]
`)
	dir := filepath.Dir(test)
	flow := `version: 1
name: y
source: {stdin: {}}
stages:
  - map: '{"id": payload.id, "total": payload.price * payload.qty}'
sink: {stdout: {}}
`
	if err := os.Rename(filepath.Join(dir, "f.yaml"), filepath.Join(dir, "f.yml")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "f.yml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, arg := range []string{filepath.Join(dir, "f.yml"), dir} {
		if code, out, errs := flowrun("", "test", arg); code != 0 || !strings.Contains(out, "1 passed, 0 failed") {
			t.Fatalf("test %s: exit %d\n%s%s", arg, code, out, errs)
		}
	}
	// With both f.yaml and f.yml, the test file must say which it tests.
	if err := os.WriteFile(filepath.Join(dir, "f.yaml"), []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	if code, out, _ := flowrun("", "test", dir); code != 2 || !strings.Contains(out, "both f.yaml and f.yml exist") {
		t.Fatalf("both: exit %d\n%s", code, out)
	}
}

// A test file reached twice (by its flow, its directory, itself) runs once.
func TestTestRunsAFileGivenTwiceOnce(t *testing.T) {
	dir := copyExample(t, "demo-payments", func(s string) string { return s })
	code, out, errs := flowrun("", "test", dir, filepath.Join(dir, "demo-payments.yaml"), dir+"/./demo-payments.test.yaml")
	if code != 0 || !strings.Contains(out, "1 passed, 0 failed in 1 file(s)") {
		t.Fatalf("exit %d\n%s%s", code, out, errs)
	}
}

// CI reads --format junit's stdout as XML even when no test could run.
func TestTestJUnitOfABadPathIsValidXML(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "nope.yaml")
	code, out, errs := flowrun("", "test", "--format", "junit", missing)
	var suites struct {
		Errors int `xml:"errors,attr"`
		Suites []struct {
			Cases []struct {
				Error *struct {
					Message string `xml:"message,attr"`
				} `xml:"error"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal([]byte(out), &suites); err != nil || code != 1 || suites.Errors != 1 ||
		suites.Suites[0].Cases[0].Error == nil || !strings.Contains(suites.Suites[0].Cases[0].Error.Message, "no such file or directory") ||
		!strings.Contains(errs, "no such file or directory") {
		t.Fatalf("exit %d, %v\n%s%s", code, err, out, errs)
	}
}

// validate checks a test file as a test file: `flowrun validate
// examples/flows/*.yaml` takes the flows and their tests alike.
func TestValidateTakesTestFiles(t *testing.T) {
	code, _, errs := flowrun("", "validate", "../examples/flows/demo-payments.yaml", "../examples/flows/demo-payments.test.yaml")
	if code != 0 || !strings.Contains(errs, "demo-payments.test.yaml: ok") {
		t.Fatalf("validate of an example and its tests: exit %d, %s", code, errs)
	}
	bad := writeFlowAndTests(t, "version: 1\nname: f\nsource: {stdin: {}}\nsink: {stdout: {}}\n", "tests:\n  - name: x\n")
	code, out, _ := flowrun("", "validate", bad)
	if code != 1 || !strings.Contains(out, "f.test.yaml:2:5: tests[0]: input is required") {
		t.Fatalf("validate of a bad test file: exit %d, %s", code, out)
	}
}
