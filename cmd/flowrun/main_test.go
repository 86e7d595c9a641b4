package main_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/poll"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flowrun-cli")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "flowrun")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func write(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func exitCode(err error) int {
	if err == nil {
		return 0
	}
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode()
	}
	return -1
}

const badFlow = `version: 1
name: bad
source:
  generate: {count: 3, payload: 'counter'}
stages:
  - fliter: payload > 1
  - map: paylod + 1
sink:
  stdout: {envelop: true}
`

func TestValidateReportsEveryProblemWithPosition(t *testing.T) {
	file := write(t, "bad.yaml", badFlow)
	out, err := exec.Command(binary, "validate", file).Output()
	if exitCode(err) != 1 {
		t.Fatalf("exit %d, want 1", exitCode(err))
	}
	for _, want := range []string{
		file + `:6:5: stages[0].fliter: unknown stage kind "fliter"; did you mean "filter"?`,
		file + `:7:10: stages[1].map: unknown name paylod`,
		file + `:9:12: sink.stdout.envelop: unknown key "envelop"; did you mean "envelope"?`,
	} {
		if !strings.Contains(string(out), want) {
			t.Errorf("missing %q in:\n%s", want, out)
		}
	}
}

func TestValidateJSONAndExitCodes(t *testing.T) {
	file := write(t, "bad.yaml", badFlow)
	out, err := exec.Command(binary, "validate", "--format", "json", file).Output()
	if exitCode(err) != 1 {
		t.Fatalf("exit %d", exitCode(err))
	}
	var ds []struct {
		Pos struct {
			File      string
			Line, Col int
		}
		Path    string
		Message string
	}
	if err := json.Unmarshal(out, &ds); err != nil || len(ds) != 3 || ds[0].Pos.Line != 6 || ds[0].Pos.Col != 5 {
		t.Fatalf("json %s: %v %+v", out, err, ds)
	}
	good := write(t, "good.yaml", "version: 1\nname: good\nsource: {generate: {count: 1, payload: counter}}\nsink: {drop: {}}\n")
	if err := exec.Command(binary, "validate", good).Run(); exitCode(err) != 0 {
		t.Fatalf("valid flow: exit %d", exitCode(err))
	}
	if err := exec.Command(binary, "validate").Run(); exitCode(err) != 2 {
		t.Fatalf("no file: exit %d, want 2", exitCode(err))
	}
	if err := exec.Command(binary, "nonsense").Run(); exitCode(err) != 2 {
		t.Fatalf("unknown command: exit %d, want 2", exitCode(err))
	}
}

func TestGraphSchemaVersion(t *testing.T) {
	flow := write(t, "g.yaml", `version: 1
name: g
source: {generate: {count: 1, payload: counter}}
stages:
  - filter: payload > 0
  - batch: {size: 10}
sink: {drop: {}}
dead_letter: {stdout: {}}
`)
	out, err := exec.Command(binary, "graph", flow).Output()
	if err != nil || !strings.Contains(string(out), "flowchart LR") || !strings.Contains(string(out), "processors --> batch_1") {
		t.Fatalf("mermaid: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "graph", "--format", "dot", flow).Output()
	if err != nil || !strings.Contains(string(out), `"batch_1" -> "sink"`) {
		t.Fatalf("dot: %v\n%s", err, out)
	}
	out, err = exec.Command(binary, "schema").Output()
	var schema map[string]any
	if err != nil || json.Unmarshal(out, &schema) != nil || schema["$schema"] == nil {
		t.Fatalf("schema: %v\n%.200s", err, out)
	}
	out, err = exec.Command(binary, "version").Output()
	if err != nil || !strings.HasPrefix(string(out), "flowrun ") {
		t.Fatalf("version: %v %s", err, out)
	}
}

// The static binary needs nothing from its environment, as in a scratch image.
func TestRunsWithEmptyEnvironment(t *testing.T) {
	flow := write(t, "e.yaml", "version: 1\nname: e\nsource: {generate: {count: 5, payload: counter}}\nsink: {stdout: {}}\n")
	cmd := exec.Command(binary, "run", "--http-addr", "", flow)
	cmd.Env = []string{}
	out, err := cmd.Output()
	if err != nil || string(out) != "1\n2\n3\n4\n5\n" {
		t.Fatalf("run: %v, stdout %q", err, out)
	}
}

// startEndless runs an endless flow with a batch that only a drain flushes.
func startEndless(t *testing.T, wrap ...string) (*exec.Cmd, *lockedBuffer, string, string) {
	t.Helper()
	out := filepath.Join(t.TempDir(), "out.jsonl")
	flow := write(t, "endless.yaml", fmt.Sprintf(`version: 1
name: endless
source: {generate: {count: 0, interval: 1ms, payload: counter}}
stages:
  - batch: {size: 1000000, timeout: 1h}
sink: {file: {path: %q}}
`, out))
	args := append(wrap, binary, "run", "--http-addr", "127.0.0.1:0", "--log-format", "json", flow)
	cmd := exec.Command(args[0], args[1:]...)
	stderr, addr := startLogging(t, cmd)
	return cmd, stderr, out, addr
}

func TestSIGTERMDrainsFlushesAndExitsZero(t *testing.T) {
	cmd, stderr, out, addr := startEndless(t)
	waitReady(t, addr)
	waitRead(t, addr)
	metrics := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{`flowrun_edge_messages_total{flow="endless",from="source",to="processors"}`,
		`flowrun_stage_demand{flow="endless",stage="processors"}`, `flowrun_edge_capacity{flow="endless",from="processors",to="batch_0"}`} {
		if !strings.Contains(metrics, want) {
			t.Fatalf("metrics missing %s", want)
		}
	}
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr)
	}
	data, _ := os.ReadFile(out)
	lines := strings.Count(string(data), "\n")
	m := regexp.MustCompile(`"in":(\d+),"out":(\d+),`).FindStringSubmatch(stderr.String())
	if m == nil || lines == 0 || m[1] != fmt.Sprint(lines) || m[2] != m[1] {
		t.Fatalf("flushed %d lines; summary %v\n%s", lines, m, stderr)
	}
}

func waitReady(t *testing.T, addr string) {
	t.Helper()
	poll.Until(t, "/readyz to answer 200", 30*time.Second, func() bool {
		resp, err := http.Get("http://" + addr + "/readyz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
}

// waitRead waits until the endless flow has read from its source, so a
// stop has something to drain.
func waitRead(t *testing.T, addr string) {
	t.Helper()
	read := regexp.MustCompile(`(?m)^flowrun_edge_messages_total\{flow="endless",from="source",to="processors"\} [1-9]`)
	poll.Until(t, "a message read", 30*time.Second, func() bool { return read.MatchString(get(t, "http://"+addr+"/metrics")) })
}

func get(t *testing.T, url string) string {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// As PID 1 of its own PID namespace (as in a container), SIGTERM still drains.
func TestSIGTERMAsPID1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to create a PID namespace with unshare")
	}
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("unshare not installed")
	}
	cmd, stderr, out, addr := startEndless(t, "unshare", "--pid", "--fork", "--kill-child")
	waitReady(t, addr)
	waitRead(t, addr)
	// Signal flowrun itself (PID 1 inside), not unshare: find it as unshare's child.
	child, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", cmd.Process.Pid, cmd.Process.Pid))
	if err != nil || len(strings.Fields(string(child))) != 1 {
		t.Fatalf("children of unshare: %q %v", child, err)
	}
	var pid int
	fmt.Sscan(strings.Fields(string(child))[0], &pid)
	status, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if !regexp.MustCompile(`NSpid:\s+\d+\s+1\n`).Match(status) {
		t.Fatalf("flowrun is not PID 1 in its namespace:\n%s", status)
	}
	if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("exit: %v\n%s", err, stderr)
	}
	data, _ := os.ReadFile(out)
	if !strings.Contains(stderr.String(), `"msg":"flow finished","flow":"endless","in":`) || len(data) == 0 {
		t.Fatalf("no drain as PID 1:\n%s", stderr)
	}
}

// A finite run that could not deliver everything exits 3 and says how
// many messages it lost; `run --help` documents the exit codes.
func TestRunExitsNonZeroWhenMessagesAreLost(t *testing.T) {
	flow := write(t, "lost.yaml", "version: 1\nname: lost\nsource: {stdin: {max_line_bytes: 8}}\nstages:\n  - map: payload.n + 1\nsink: {stdout: {}}\n")
	cmd := exec.Command(binary, "run", "--http-addr", "", flow)
	cmd.Stdin = strings.NewReader("{\"n\":1}\n{\"n\":\"x\"}\n{\"n\":3}\n{\"n\":1234567}\n")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if exitCode(err) != 3 || stdout.String() != "2\n4\n" ||
		!strings.Contains(stderr.String(), "in 4, out 2, filtered 0, dead-lettered 0, nacked 0, discarded 2, lost 2 in") {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", exitCode(err), stdout.String(), stderr.String())
	}

	ok := write(t, "ok.yaml", "version: 1\nname: ok\nsource: {stdin: {}}\nsink: {stdout: {}}\n")
	cmd = exec.Command(binary, "run", "--http-addr", "", ok)
	cmd.Stdin = strings.NewReader("{\"n\":1}\n")
	if err := cmd.Run(); exitCode(err) != 0 {
		t.Fatalf("a run that delivered everything: exit %d", exitCode(err))
	}

	out, err := exec.Command(binary, "run", "--help").CombinedOutput()
	if !strings.Contains(string(out), "Exit codes:") || !strings.Contains(string(out), "3  the flow ended without delivering everything") {
		t.Fatalf("run --help (%v) does not document the exit codes:\n%s", err, out)
	}
}

// validate warns (exit 0) when a source that redelivers has no dead letter.
func TestValidateWarnsWithoutDeadLetter(t *testing.T) {
	flow := write(t, "k.yaml", "version: 1\nname: k\nsource: {kafka: {brokers: [\"127.0.0.1:1\"], topic: in, group: g}}\nsink: {stdout: {}}\n")
	out, err := exec.Command(binary, "validate", flow).CombinedOutput()
	if exitCode(err) != 0 || !strings.Contains(string(out), "warning: source.kafka: the flow has no dead_letter") ||
		!strings.Contains(string(out), "k.yaml: ok") {
		t.Fatalf("exit %d:\n%s", exitCode(err), out)
	}
}
