package cli_test

import (
	"bytes"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/cli"
	_ "github.com/flowrun/flowrun/connectors/all"
	"github.com/flowrun/flowrun/message"
	_ "github.com/flowrun/flowrun/middleware"
	"github.com/flowrun/flowrun/registry"
	_ "github.com/flowrun/flowrun/stages"
)

func init() {
	registry.RegisterStage(&registry.StageSpec{Name: "cli_test_panic", Value: registry.Field{Type: registry.String},
		Build: func(_ *registry.Build, v any) (registry.Built, error) {
			return registry.Built{Step: panicOn(v.(string))}, nil
		}})
}

// panicOn panics on the message whose body equals it.
type panicOn string

func (p panicOn) Apply(_ *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
	if string(m.Raw) == string(p) {
		panic("boom")
	}
	return append(out, m), nil
}

func writeFlow(t *testing.T, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "flow.yaml")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// closedPort is a loopback address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return addr
}

func TestJSONLogFormatMakesEveryStderrLineJSON(t *testing.T) {
	// Anything logged past the flow's logger would show up as text here.
	var stderr bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&stderr, nil)))
	t.Cleanup(func() { slog.SetDefault(prev) })

	flow := writeFlow(t, fmt.Sprintf(`version: 1
name: jsonlogs
source: {generate: {count: 30, payload: counter}}
middleware:
  - retry: {max_retries: 1, initial_interval: 1ms, max_interval: 1ms}
  - circuit_breaker: {failures: 1, timeout: 1ms}
stages:
  - cli_test_panic: "3"
  - map: 'payload %% 7 == 0 ? payload.x : payload'
sink:
  http: {url: "http://%s/", retry_for: 0s}
`, closedPort(t)))
	code := cli.Main([]string{"run", "--http-addr", "", "--log-format", "json", flow}, cli.IO{Stdout: &bytes.Buffer{}, Stderr: &stderr})
	if code == cli.ExitUsage {
		t.Fatalf("exit %d\n%s", code, stderr.String())
	}
	msgs := map[string]map[string]any{}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("stderr line is not JSON: %q\n%s", line, stderr.String())
		}
		msgs[r["msg"].(string)] = r
	}
	for _, want := range []string{"stage panicked", "circuit breaker opened: writes wait", "flow finished"} {
		if msgs[want] == nil {
			t.Errorf("no %q line in:\n%s", want, stderr.String())
		}
	}
	if sum := msgs["flow finished"]; sum != nil && (sum["in"] != 30.0 || sum["nacked"].(float64)+sum["discarded"].(float64) != 30.0 || sum["flow"] != "jsonlogs") {
		t.Errorf("summary %v", sum)
	}
}

func TestPprofOnlyWithTheFlag(t *testing.T) {
	for _, withFlag := range []bool{false, true} {
		args := []string{"run", "--http-addr", "127.0.0.1:0", "--log-format", "json"}
		if withFlag {
			args = append(args, "--pprof")
		}
		stderr := &probeWriter{t: t, withFlag: withFlag}
		flow := writeFlow(t, "version: 1\nname: pp\nsource: {generate: {count: 1, payload: counter}}\nsink: {drop: {}}\n")
		// The probe runs when the server's address is logged, while the
		// flow runs; a finished run has shut the server down.
		if code := cli.Main(append(args, flow), cli.IO{Stdout: &bytes.Buffer{}, Stderr: stderr}); code != cli.ExitOK {
			t.Fatalf("exit %d", code)
		}
		if !stderr.probed {
			t.Fatal("the server's address was never logged")
		}
	}
}

// probeWriter asks /debug/pprof/ on the address the run logs.
type probeWriter struct {
	t        *testing.T
	withFlag bool
	probed   bool
}

var addrRe = regexp.MustCompile(`"addr":"([^"]+)"`)

func (w *probeWriter) Write(p []byte) (int, error) {
	m := addrRe.FindSubmatch(p)
	if m == nil || w.probed {
		return len(p), nil
	}
	w.probed = true
	resp, err := http.Get("http://" + string(m[1]) + "/debug/pprof/")
	if err != nil {
		w.t.Errorf("pprof probe: %v", err)
		return len(p), nil
	}
	resp.Body.Close()
	want := http.StatusNotFound
	if w.withFlag {
		want = http.StatusOK
	}
	if resp.StatusCode != want {
		w.t.Errorf("--pprof %v: /debug/pprof/ answered %d, want %d", w.withFlag, resp.StatusCode, want)
	}
	return len(p), nil
}

func TestJSONLogFormatReportsAnInvalidFlowAsJSON(t *testing.T) {
	var stderr bytes.Buffer
	flow := writeFlow(t, "version: 1\nname: bad\nsource: {generate: {count: 1, payload: counter}}\nstages:\n  - map: paylod\nsink: {drop: {}}\n")
	if code := cli.Main([]string{"run", "--http-addr", "", "--log-format", "json", flow}, cli.IO{Stdout: &bytes.Buffer{}, Stderr: &stderr}); code != cli.ExitFailure {
		t.Fatalf("exit %d", code)
	}
	for _, line := range strings.Split(strings.TrimSpace(stderr.String()), "\n") {
		var r map[string]any
		if err := json.Unmarshal([]byte(line), &r); err != nil || !strings.Contains(fmt.Sprint(r["problem"]), "paylod") {
			t.Fatalf("stderr line %q: %v", line, err)
		}
	}
}
