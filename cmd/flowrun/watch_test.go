package main_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/poll"
)

func hookFlow(port, out, mapExpr string) string {
	return fmt.Sprintf(`version: 1
name: hook
source: {http: {address: %q}}
stages:
  - map: '%s'
sink: {file: {path: %q}}
`, port, mapExpr, out)
}

// send posts {"n":N} to the webhook until it is accepted: a 200 means
// delivered, a refused connection or a 503 (the flow reloading) means
// send again, as a webhook's sender does.
func send(t *testing.T, url string, from, to int) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}, Timeout: 30 * time.Second}
	for n := from; n < to; n++ {
		poll.Until(t, fmt.Sprintf("message %d accepted", n), 30*time.Second, func() bool {
			resp, err := c.Post(url, "application/json", strings.NewReader(fmt.Sprintf(`{"n":%d}`, n)))
			if err != nil {
				return false
			}
			resp.Body.Close()
			if resp.StatusCode != 200 && resp.StatusCode != 503 {
				t.Fatalf("message %d: %s", n, resp.Status)
			}
			return resp.StatusCode == 200
		})
	}
}

// --watch swaps a changed flow while messages arrive: every message
// accepted is written exactly once, by the old version or the new one,
// never both; an edit with problems is reported and the running version
// goes on; SIGHUP reloads too.
func TestWatchSwapsAChangedFlowWithoutLosingMessages(t *testing.T) {
	dir := t.TempDir()
	port, out := freePort(t), filepath.Join(dir, "out.jsonl")
	file := write(t, "hook.yaml", hookFlow(port, out, `{"v": 1, "n": payload.n}`))
	cmd, stderr, addr := startFlows(t, "--watch", "--watch-interval", "20ms", file)
	waitReady(t, addr)
	url := "http://" + port + "/"
	reloaded := func(n int) func() bool {
		return func() bool { f := flows(t, addr)["hook"]; return f.Reloads == n && f.State == "running" }
	}

	send(t, url, 0, 100) // v1 only
	if err := os.WriteFile(file, []byte(hookFlow(port, out, `{"v": 2, "n": payload.n}`)), 0o644); err != nil {
		t.Fatal(err)
	}
	send(t, url, 100, 300) // during the swap
	poll.Until(t, "the reload", 30*time.Second, reloaded(1))
	// The live graph follows: it shows the new version's run.
	if g := get(t, "http://"+addr+"/graph.json"); !strings.Contains(g, `"flow":"hook","ready":true`) {
		t.Fatalf("/graph.json after the reload: %s", g)
	}
	send(t, url, 300, 350) // v2 only

	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the SIGHUP reload", 30*time.Second, reloaded(2))
	send(t, url, 350, 400)

	if err := os.WriteFile(file, []byte(hookFlow(port, out, `{"v": 3, "n": paylod.n}`)), 0o644); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the edit with a problem to be reported", 30*time.Second, func() bool {
		return strings.Contains(flows(t, addr)["hook"].LastError, "unknown name paylod")
	})
	if !strings.Contains(stderr.String(), `hook.yaml:5:25: stages[0].map: unknown name paylod`) {
		t.Fatalf("problem not reported:\n%s", stderr)
	}
	send(t, url, 400, 410) // still v2

	if code := stopAndWait(t, cmd); code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	data, _ := os.ReadFile(out)
	seen := map[int]int{}
	last := 0
	for _, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		var m struct{ V, N int }
		if err := json.Unmarshal([]byte(line), &m); err != nil {
			t.Fatalf("line %q: %v", line, err)
		}
		seen[m.N]++
		switch {
		case m.N < 100 && m.V != 1, m.N >= 300 && m.V != 2, m.V < last && m.N < 300:
			t.Errorf("message %d written by version %d", m.N, m.V)
		}
		last = max(last, m.V)
	}
	for n := range 410 {
		if seen[n] != 1 {
			t.Errorf("message %d written %d times", n, seen[n])
		}
	}
	if len(seen) != 410 || !strings.Contains(stderr.String(), `"msg":"flow finished","flow":"hook","in":410,"out":410,`) ||
		!strings.Contains(stderr.String(), `"restarts":0,"reloads":2`) {
		t.Fatalf("%d messages written; stderr:\n%s", len(seen), stderr)
	}
}

// A flow reading stdin is never reloaded: the new source could not take
// over what the old one has read ahead. The refusal is logged and shown.
func TestAFlowReadingStdinIsNotReloaded(t *testing.T) {
	out := filepath.Join(t.TempDir(), "out")
	file := write(t, "s.yaml", fmt.Sprintf("version: 1\nname: s\nsource: {stdin: {}, codec: text}\nsink: {file: {path: %q}}\n", out))
	cmd := exec.Command(binary, "run", "--watch", "--http-addr", "127.0.0.1:0", "--log-format", "json", file)
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedBuffer{}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	fmt.Fprintln(stdin, "one")
	poll.Until(t, "the first line written", 30*time.Second, func() bool { b, _ := os.ReadFile(out); return string(b) == "one\n" })
	if err := cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "the reload refused", 30*time.Second, func() bool {
		return strings.Contains(stderr.String(), `"msg":"a flow reading stdin cannot be reloaded: its input would be lost; restart it instead"`)
	})
	fmt.Fprintln(stdin, "two")
	stdin.Close()
	poll.Until(t, "the rest written", 30*time.Second, func() bool { b, _ := os.ReadFile(out); return string(b) == "one\ntwo\n" })
	if code := stopAndWait(t, cmd); code != 0 || !strings.Contains(stderr.String(), `"flow":"s","in":2,"out":2,`) {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
}
