package main_test

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/poll"
)

// lockedBuffer is stderr, read by the test while the process writes it.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (w *lockedBuffer) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func (w *lockedBuffer) String() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.String()
}

// startFlows starts `flowrun run` with JSON logs on a free port and returns
// the process, its stderr and the HTTP server's address.
func startFlows(t *testing.T, args ...string) (*exec.Cmd, *lockedBuffer, string) {
	t.Helper()
	cmd := exec.Command(binary, append([]string{"run", "--http-addr", "127.0.0.1:0", "--log-format", "json"}, args...)...)
	stderr, addr := startLogging(t, cmd)
	return cmd, stderr, addr
}

// startLogging starts cmd (a `flowrun run --log-format json`), keeping
// its stderr, and waits until its log names its HTTP server's address.
// The test's cleanup kills it.
func startLogging(t *testing.T, cmd *exec.Cmd) (*lockedBuffer, string) {
	t.Helper()
	stderr := &lockedBuffer{}
	pr, pw := io.Pipe()
	cmd.Stderr = io.MultiWriter(stderr, pw)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	addr := make(chan string, 1)
	go func() { // ends when the pipe closes at cleanup
		sc := bufio.NewScanner(pr)
		re := regexp.MustCompile(`"addr":"([^"]+)"`)
		for sc.Scan() {
			if m := re.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case addr <- m[1]:
				default:
				}
			}
		}
	}()
	t.Cleanup(func() { pw.Close(); _ = cmd.Process.Kill(); _ = cmd.Wait() })
	select {
	case a := <-addr:
		return stderr, a
	case <-time.After(20 * time.Second):
		t.Fatalf("no address logged:\n%s", stderr)
	}
	return nil, ""
}

type flowStatus struct {
	Name      string `json:"name"`
	File      string `json:"file"`
	State     string `json:"state"`
	Restarts  int    `json:"restarts"`
	Reloads   int    `json:"reloads"`
	LastError string `json:"last_error"`
	In        int64  `json:"in"`
	Out       int64  `json:"out"`
}

func flows(t *testing.T, addr string) map[string]flowStatus {
	t.Helper()
	var list []flowStatus
	if err := json.Unmarshal([]byte(get(t, "http://"+addr+"/flows")), &list); err != nil {
		t.Fatal(err)
	}
	out := map[string]flowStatus{}
	for _, f := range list {
		out[f.Name] = f
	}
	return out
}

func readyz(t *testing.T, addr string) int {
	t.Helper()
	resp, err := http.Get("http://" + addr + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// freePort is a loopback address nothing listens on, until someone does.
func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func stopAndWait(t *testing.T, cmd *exec.Cmd) int {
	t.Helper()
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	return exitCode(cmd.Wait())
}

func endlessFlow(name, out string) string {
	return fmt.Sprintf("version: 1\nname: %s\nsource: {generate: {count: 0, interval: 1ms, payload: '{\"from\": \"%s\", \"n\": counter}'}}\nsink: {file: {path: %q}}\n", name, name, out)
}

func lineCount(t *testing.T, path string) int64 {
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return int64(bytes.Count(data, []byte("\n")))
}

// `flowrun run DIR` runs every flow of DIR in one process: one whose
// broker cannot be reached restarts with backoff while the other runs,
// /readyz waits for both, /flows shows each; SIGTERM drains them all.
func TestSeveralFlowsInOneProcess(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "a.out")
	write := func(name, content string) {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("a.yaml", endlessFlow("a", out))
	write("b.yaml", fmt.Sprintf("version: 1\nname: b\nsource: {redis: {url: \"redis://%s\", stream: s, group: g}}\nsink: {drop: {}}\n", freePort(t)))
	write("a.test.yaml", "not a flow: a flow's tests\n")
	cmd, stderr, addr := startFlows(t, dir)

	poll.Until(t, "b to restart twice while a runs", 30*time.Second, func() bool {
		f := flows(t, addr)
		return f["b"].Restarts >= 2 && f["a"].State == "running" && f["a"].In > 0
	})
	f := flows(t, addr)
	if b := f["b"]; len(f) != 2 || b.File != filepath.Join(dir, "b.yaml") || !strings.Contains(b.LastError, "connection refused") ||
		(b.State != "restarting" && b.State != "starting") {
		t.Fatalf("/flows %+v", f)
	}
	if code := readyz(t, addr); code != http.StatusServiceUnavailable {
		t.Fatalf("/readyz %d while b cannot run", code)
	}
	m := get(t, "http://"+addr+"/metrics")
	for _, want := range []string{`flowrun_messages_total{flow="a",outcome="acked"}`, `flowrun_flow_ready{flow="a"} 1`,
		`flowrun_flow_ready{flow="b"} 0`} {
		if !strings.Contains(m, want) {
			t.Fatalf("no %s in /metrics", want)
		}
	}
	if !regexp.MustCompile(`flowrun_flow_restarts_total\{flow="b"\} [2-9]`).MatchString(m) {
		t.Fatal("/metrics does not count b's restarts")
	}
	// b never ran: the run could not do all it was asked (exit 1); a drained.
	if code := stopAndWait(t, cmd); code != 1 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	s := stderr.String()
	if !strings.Contains(s, fmt.Sprintf(`"msg":"flow finished","flow":"a","in":%d,"out":%d,`, lineCount(t, out), lineCount(t, out))) ||
		!regexp.MustCompile(`"msg":"flow finished","flow":"b","in":0,.*"restarts":[2-9]`).MatchString(s) {
		t.Fatalf("summaries:\n%s", s)
	}
}

// Two healthy flows: ready when both are; SIGTERM drains both; exit 0.
func TestTwoFlowsReadyAndDrained(t *testing.T) {
	outA, outB := filepath.Join(t.TempDir(), "a.out"), filepath.Join(t.TempDir(), "b.out")
	cmd, stderr, addr := startFlows(t, "--tap", write(t, "a.yaml", endlessFlow("a", outA)), write(t, "b.yaml", endlessFlow("b", outB)))
	waitReady(t, addr)
	if f := flows(t, addr); f["a"].State != "running" || f["b"].State != "running" {
		t.Fatalf("/flows %+v", f)
	}
	// Each flow's live graph is under /flows/NAME/; / links them.
	for _, name := range []string{"a", "b"} {
		if g := get(t, "http://"+addr+"/flows/"+name+"/graph.json"); !strings.Contains(g, `"flow":"`+name+`","ready":true`) {
			t.Fatalf("/flows/%s/graph.json: %s", name, g)
		}
	}
	if index := get(t, "http://"+addr+"/"); !strings.Contains(index, `<a href="flows/a/">a</a> running`) {
		t.Fatalf("/: %s", index)
	}
	// flowrun tap --flow reads one flow's tap.
	tapped, err := exec.Command(binary, "tap", "--addr", addr, "--flow", "b", "--limit", "3").Output()
	if err != nil || strings.Count(string(tapped), "\n") != 3 || strings.Count(string(tapped), `"from":"b"`) != 3 {
		t.Fatalf("flowrun tap --flow b: %v\n%s", err, tapped)
	}
	if code := stopAndWait(t, cmd); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	for name, out := range map[string]string{"a": outA, "b": outB} {
		n := lineCount(t, out)
		if !strings.Contains(stderr.String(), fmt.Sprintf(`"msg":"flow finished","flow":"%s","in":%d,"out":%d,`, name, n, n)) {
			t.Fatalf("flow %s wrote %d lines:\n%s", name, n, stderr)
		}
	}
}

// Finite flows end the run when all have ended, with one summary line
// each; the exit code is the worst flow's: 3 when one lost messages.
func TestSeveralFiniteFlowsExitWithTheWorstCode(t *testing.T) {
	dir := t.TempDir()
	in := write(t, "in.txt", "ok\nthis line is too long\nok\n")
	good := write(t, "good.yaml", fmt.Sprintf("version: 1\nname: good\nsource: {generate: {count: 5, payload: counter}}\nsink: {file: {path: %q}}\n", dir+"/good.out"))
	lossy := write(t, "lossy.yaml", fmt.Sprintf("version: 1\nname: lossy\nsource: {file: {path: %q, max_line_bytes: 8}, codec: text}\nsink: {drop: {}}\n", in))
	cmd := exec.Command(binary, "run", "--http-addr", "", good, lossy)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if code := exitCode(cmd.Run()); code != 3 {
		t.Fatalf("exit %d\n%s", code, &stderr)
	}
	for _, want := range []string{"flowrun: good: in 5, out 5, filtered 0, dead-lettered 0, nacked 0, discarded 0, lost 0 in ",
		"flowrun: lossy: in 3, out 2, filtered 0, dead-lettered 0, nacked 0, discarded 1, lost 1 in "} {
		if !strings.Contains(stderr.String(), want) {
			t.Fatalf("no %q in:\n%s", want, &stderr)
		}
	}
}
