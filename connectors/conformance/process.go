package conformance

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/poll"
	"gopkg.in/yaml.v3"
)

// buildFlowrun builds cmd/flowrun of the module under test into dir.
func buildFlowrun(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "flowrun")
	cmd := exec.Command("go", "build", "-o", bin, "github.com/flowrun/flowrun/cmd/flowrun")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("go build cmd/flowrun: %v\n%s", err, out)
	}
	return bin
}

// flowProc is one `flowrun run` process the test started and owns.
type flowProc struct {
	t      *testing.T
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
	err    error // the Wait result, once done is closed
}

// startFlow runs `flowrun run` on the flow file; the test's cleanup
// kills it if it still runs.
func startFlow(t *testing.T, bin, file string, env ...string) *flowProc {
	t.Helper()
	p := &flowProc{t: t, stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, "run", "--http-addr", "", "--drain-timeout", "20s", file)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = p.stderr, p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start flowrun: %v", err)
	}
	go func() { // owned: ends when the process exits
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = p.cmd.Process.Kill()
			<-p.done
		}
		if t.Failed() {
			t.Logf("flowrun output (pid %d):\n%s", p.cmd.Process.Pid, p.stderr.String())
		}
	})
	return p
}

// Flow is a `flowrun run` process started by a test (an example flow
// run against the real services, say).
type Flow struct{ p *flowProc }

// StartFlow builds cmd/flowrun and runs the flow file with extra
// environment entries (NAME=value); the test's cleanup kills it if the
// test does not Stop it.
func StartFlow(t *testing.T, file string, env ...string) *Flow {
	t.Helper()
	return &Flow{p: startFlow(t, buildFlowrun(t, t.TempDir()), file, env...)}
}

// Stop sends SIGTERM and fails the test unless the flow drains and
// exits 0 within 30s.
func (f *Flow) Stop() { f.p.t.Helper(); f.p.stop(30 * time.Second) }

// Running fails the test when the flow has exited.
func (f *Flow) Running() {
	f.p.t.Helper()
	if err := f.p.exited(); err != nil {
		f.p.t.Fatal(err)
	}
}

// kill sends SIGKILL, as a crash or an OOM kill would.
func (p *flowProc) kill() {
	_ = p.cmd.Process.Signal(syscall.SIGKILL)
	<-p.done
}

// stop sends SIGTERM and waits for a clean exit (code 0).
func (p *flowProc) stop(wait time.Duration) {
	p.t.Helper()
	// A process signalled before it handles signals (just started, its
	// work already done by another) dies of it: wait until it runs.
	poll.Until(p.t, "flowrun to start its flow", wait, func() bool {
		return strings.Contains(p.stderr.String(), "flow starting") || p.exited() != nil
	})
	_ = p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.done:
	case <-time.After(wait):
		p.t.Fatalf("flowrun did not exit within %s of SIGTERM", wait)
	}
	if p.err != nil {
		p.t.Fatalf("flowrun exited with %v after SIGTERM, want exit 0", p.err)
	}
}

// exited reports whether the process ended (it should not on its own).
func (p *flowProc) exited() error {
	select {
	case <-p.done:
		return fmt.Errorf("flowrun exited early (%v):\n%s", p.err, p.stderr.String())
	default:
		return nil
	}
}

type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// flowFile writes a flow file; connector values are rendered as a flow
// file holds them (durations as strings).
func flowFile(t *testing.T, flow map[string]any) string {
	t.Helper()
	out, err := yaml.Marshal(yamlValue(flow))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "flow.yaml")
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func yamlValue(v any) any {
	switch v := v.(type) {
	case time.Duration:
		return v.String()
	case map[string]any:
		out := make(map[string]any, len(v))
		for k, x := range v {
			out[k] = yamlValue(x)
		}
		return out
	case []any:
		out := make([]any, len(v))
		for i, x := range v {
			out[i] = yamlValue(x)
		}
		return out
	}
	return v
}

// run runs a shell command for a service, with its output in the error.
func run(command string) error {
	out, err := exec.Command("bash", "-c", command).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %w\n%s", command, err, strings.TrimSpace(string(out)))
	}
	return nil
}

var errTimeout = errors.New("timed out")
