package main_test

import (
	"bytes"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/poll"
)

// liveFlow runs until stopped, a message a millisecond, through named
// stages and a route, so every edge has traffic.
const liveFlow = `version: 1
name: live
source: {generate: {interval: 1ms, payload: '{"id": counter, "amount": counter % 1500, "card": {"number": "4111111111111111"}}'}}
stages:
  - name: tag
    meta: {size: 'payload.amount > 1000 ? "large" : "small"'}
  - name: by-size
    route:
      - {when: meta.size == "large", to: large}
      - {default: normal}
sinks:
  large: {drop: {}}
  normal: {drop: {}}
`

// run is a `flowrun run` in the background.
type run struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	addr   string // its HTTP server, as logged
}

// startRun starts `flowrun run --log-format json ARGS... FLOW` and waits
// until it logs its HTTP address.
func startRun(t *testing.T, env []string, args ...string) *run {
	t.Helper()
	flow := write(t, "live.yaml", liveFlow)
	cmd := exec.Command(binary, append(append([]string{"run", "--log-format", "json"}, args...), flow)...)
	cmd.Env = append(os.Environ(), env...)
	r := &run{cmd: cmd}
	r.stderr, r.addr = startLogging(t, cmd)
	waitReady(t, r.addr)
	return r
}

// stop sends SIGTERM and expects a clean exit.
func (r *run) stop(t *testing.T) {
	t.Helper()
	if err := r.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if err := r.cmd.Wait(); err != nil {
		t.Fatalf("run exit: %v\n%s", err, r.stderr)
	}
}

// flowrun runs the binary and returns stdout, stderr and the exit code.
func flowrun(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	cmd.Env = append(os.Environ(), env...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	return stdout.String(), stderr.String(), exitCode(err)
}

func TestTapPrintsLimitLiveMessages(t *testing.T) {
	r := startRun(t, nil, "--http-addr", "127.0.0.1:0", "--tap", "--redact", "payload.card.number")
	out, errOut, code := flowrun(t, nil, "tap", "--addr", r.addr, "--limit", "20")
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
	if len(lines) != 20 {
		t.Fatalf("%d lines, want 20:\n%s", len(lines), out)
	}
	for _, l := range lines {
		var m struct {
			Edge, Time, ID string
			Key            *string
			Meta           map[string]string
			Payload        map[string]any
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		if m.Edge != "by-size->sinks" && m.Edge != "processors->sink:large" && m.Edge != "processors->sink:normal" {
			t.Fatalf("edge %q: without --stage the tap shows what reaches the sinks", m.Edge)
		}
		card, _ := m.Payload["card"].(map[string]any)
		if m.ID == "" || m.Time == "" || m.Key == nil || m.Meta["size"] == "" || card["number"] != "[redacted]" {
			t.Fatalf("line %s", l)
		}
	}
	// One stage, filtered, paced.
	out, errOut, code = flowrun(t, nil, "tap", "--addr", r.addr, "--stage", "tag", "--where", `meta.size == "large"`, "--rate", "100/s", "--limit", "3")
	if code != 0 || strings.Count(out, `"edge":"tag->by-size"`) != 3 || strings.Count(out, `"size":"large"`) != 3 {
		t.Fatalf("--stage tag --where: exit %d\n%s\n%s", code, out, errOut)
	}
	_, errOut, code = flowrun(t, nil, "tap", "--addr", r.addr, "--stage", "nope", "--limit", "1")
	if code != 1 || !strings.Contains(errOut, `no stage, sink or node "nope" in the flow; tap one of: source, tag, by-size, large, normal`) {
		t.Fatalf("unknown stage: exit %d\n%s", code, errOut)
	}
	r.stop(t)
	if strings.Contains(r.stderr.String(), "4111111111111111") {
		t.Fatal("the card number was logged")
	}
}

func TestTapFailsCleanlyWhenOffOrGone(t *testing.T) {
	r := startRun(t, nil, "--http-addr", "127.0.0.1:0")
	out, errOut, code := flowrun(t, nil, "tap", "--addr", r.addr, "--limit", "20")
	if code != 1 || out != "" || !strings.Contains(errOut, "flowrun tap: the run at "+r.addr+" has no tap (it answered 404 Not Found): start it with `flowrun run --tap`") {
		t.Fatalf("tap off: exit %d\nstdout %q\nstderr %s", code, out, errOut)
	}
	r.stop(t)
	out, errOut, code = flowrun(t, nil, "tap", "--addr", r.addr, "--limit", "20")
	if code != 1 || out != "" || !strings.Contains(errOut, "flowrun tap: cannot reach a run at "+r.addr) {
		t.Fatalf("run gone: exit %d\nstdout %q\nstderr %s", code, out, errOut)
	}
}

func TestTapOffLoopbackNeedsAToken(t *testing.T) {
	_, errOut, code := flowrun(t, []string{"FLOWRUN_TAP_TOKEN="}, "run", "--tap", "--http-addr", "0.0.0.0:0", write(t, "f.yaml", liveFlow))
	if code != 2 || !strings.Contains(errOut, "--tap on 0.0.0.0:0, which is not loopback, streams payloads to anyone who reaches it: set a token") {
		t.Fatalf("exit %d\n%s", code, errOut)
	}
	r := startRun(t, []string{"FLOWRUN_TAP_TOKEN=s3cret"}, "--http-addr", "0.0.0.0:0", "--tap")
	_, port, err := net.SplitHostPort(r.addr)
	if err != nil {
		t.Fatal(err)
	}
	addr := net.JoinHostPort("127.0.0.1", port)
	_, errOut, code = flowrun(t, []string{"FLOWRUN_TAP_TOKEN="}, "tap", "--addr", addr, "--limit", "1")
	if code != 1 || !strings.Contains(errOut, "refused the tap (401 Unauthorized)") {
		t.Fatalf("without the token: exit %d\n%s", code, errOut)
	}
	out, errOut, code := flowrun(t, []string{"FLOWRUN_TAP_TOKEN=s3cret"}, "tap", "--addr", addr, "--limit", "2")
	if code != 0 || strings.Count(out, "\n") != 2 {
		t.Fatalf("with the token: exit %d\n%s\n%s", code, out, errOut)
	}
	r.stop(t)
}

// The page renders in a real browser with the stage names and live rates.
func TestLiveGraphRendersInHeadlessChromium(t *testing.T) {
	chromium, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("FLOWRUN_REQUIRE_CHROMIUM") == "1" {
			t.Fatal("chromium is not installed (apt-get install chromium), and FLOWRUN_REQUIRE_CHROMIUM=1")
		}
		t.Skip("chromium is not installed; .ci/run installs it")
	}
	r := startRun(t, nil, "--http-addr", "127.0.0.1:0")
	flowing := regexp.MustCompile(`"from":"source","to":"processors","rate":[0-9.]*[1-9]`)
	poll.Until(t, "messages flowing on /graph.json", 30*time.Second, func() bool {
		return flowing.MatchString(get(t, "http://"+r.addr+"/graph.json"))
	})
	cmd := exec.Command(chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--virtual-time-budget=5000", "--dump-dom", "http://"+r.addr+"/")
	var dom, chromeErr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &dom, &chromeErr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("chromium: %v\n%s", err, chromeErr.String())
		}
	case <-time.After(90 * time.Second):
		_ = cmd.Process.Kill()
		t.Fatalf("chromium did not finish\n%s", chromeErr.String())
	}
	html := dom.String()
	for _, want := range []string{`<span id="flow">live</span>`, `data-stage="tag"`, `• tag (meta)`, `• by-size (route)`,
		`data-node="sink:large"`, `meta.size == "large"`, `class="rate">`} {
		if !strings.Contains(html, want) {
			t.Errorf("the rendered page lacks %s:\n%s", want, html)
		}
	}
	// Live rates: the source's edge and the tag stage show messages per second above zero.
	edge := regexp.MustCompile(`data-from="source" data-to="processors" data-rate="([0-9.]+)">.*?class="rate">([0-9.]+k?) msg/s<`)
	m := edge.FindStringSubmatch(html)
	if m == nil || m[1] == "0.000" || m[2] == "0" {
		t.Fatalf("no live rate on the source's edge: %v\n%s", m, html)
	}
	stage := regexp.MustCompile(`data-stage="tag" data-rate="([0-9.]+)">.*?class="fig">([0-9.]+k?) msg/s`)
	if m := stage.FindStringSubmatch(html); m == nil || m[1] == "0.000" || m[2] == "0" {
		t.Fatalf("no live rate on stage tag: %v\n%s", m, html)
	}
	r.stop(t)
}
