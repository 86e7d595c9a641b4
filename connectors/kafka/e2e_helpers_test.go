package kafka_test

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowrun/flowrun/internal/poll"
	"github.com/twmb/franz-go/pkg/kgo"
)

// flowrunBin is the flowrun binary the end-to-end tests run, built once.
var flowrunBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "flowrun-kafka-e2e")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	flowrunBin = filepath.Join(dir, "flowrun")
	build := exec.Command("go", "build", "-o", flowrunBin, "github.com/flowrun/flowrun/cmd/flowrun")
	if out, err := build.CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build flowrun: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// lockedBuffer collects a process's output from its copying goroutine.
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

// proc is a running flowrun process.
type proc struct {
	name    string
	cmd     *exec.Cmd
	out     *lockedBuffer // stdout and stderr
	stdout  *lockedBuffer
	metrics string // host:port of /metrics
	done    chan struct{}
	err     error
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// writeFlow writes a flow file into the test's directory.
func writeFlow(t *testing.T, yaml string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flow.yaml")
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// startProc runs flowrun with args; KAFKA_BROKERS is set to brokers.
func startProc(t *testing.T, name, brokers string, args ...string) *proc {
	t.Helper()
	return startProcEnv(t, name, []string{"KAFKA_BROKERS=" + brokers}, args...)
}

// startProcEnv runs flowrun with args and extra environment variables;
// stdout goes to p.stdout, both streams to p.out.
func startProcEnv(t *testing.T, name string, env []string, args ...string) *proc {
	t.Helper()
	p := &proc{name: name, out: &lockedBuffer{}, stdout: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(flowrunBin, args...)
	p.cmd.Env = append(os.Environ(), env...)
	p.cmd.Stdout, p.cmd.Stderr = io.MultiWriter(p.out, p.stdout), p.out
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		_ = p.cmd.Process.Kill()
		<-p.done
		if t.Failed() {
			t.Logf("output of %s:\n%s", p.name, p.out.String())
		}
	})
	return p
}

// runFlow starts `flowrun run` on path with /metrics on a free port.
func runFlow(t *testing.T, name, brokers, path string) *proc {
	t.Helper()
	addr := freeAddr(t)
	p := startProc(t, name, brokers, "run", "--http-addr", addr, "--drain-timeout", "20s", path)
	p.metrics = addr
	poll.Until(t, name+" serves /metrics", 30*time.Second, func() bool { _, err := p.scrape(); return err == nil })
	return p
}

// stop sends sig and returns the exit code.
func (p *proc) stop(t *testing.T, sig syscall.Signal) int {
	t.Helper()
	if err := p.cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.done:
	case <-time.After(60 * time.Second):
		t.Fatalf("%s did not exit after %v", p.name, sig)
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) scrape() (string, error) {
	resp, err := http.Get("http://" + p.metrics + "/metrics")
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return string(b), err
}

// sample sums the samples of metric name (with its labels) whose label
// text contains every string of want, e.g. `outcome="acked"`.
func (p *proc) sample(t *testing.T, name string, want ...string) float64 {
	t.Helper()
	return sampleOf(p.metricsText(t), name, want...)
}

// metricsText scrapes /metrics once, for samples that must agree.
func (p *proc) metricsText(t *testing.T) string {
	t.Helper()
	text, err := p.scrape()
	if err != nil {
		t.Fatalf("scrape %s: %v", p.name, err)
	}
	return text
}

// sampleOf sums, in one scrape's text, the samples of metric name whose
// label text contains every string of want.
func sampleOf(text, name string, want ...string) float64 {
	total := 0.0
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		if !strings.HasPrefix(line, name+"{") && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for _, w := range want {
			ok = ok && strings.Contains(line, w)
		}
		if !ok {
			continue
		}
		v, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err == nil {
			total += v
		}
	}
	return total
}

// produceIDs writes n JSON messages {"id": first+i} spread over the
// topic's partitions by key.
func produceIDs(t *testing.T, addr, topic string, first, n int) {
	t.Helper()
	var recs []*kgo.Record
	for i := first; i < first+n; i++ {
		recs = append(recs, &kgo.Record{Topic: topic, Key: fmt.Appendf(nil, "k%d", i), Value: fmt.Appendf(nil, `{"id":%d}`, i)})
	}
	produceTo(t, addr, recs...)
}

// topicCounts reads a topic to its end and counts each value.
func topicCounts(t *testing.T, addr, topic string) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, r := range readAll(t, addr, topic) {
		counts[string(r.Value)]++
	}
	return counts
}

// waitDistinct reads topic from its start until it has seen n distinct
// values and returns how often it saw each. One reader follows the
// topic as it grows: reading it again from the start on every poll cost
// time that grew with the topic (160 MB in the outage test).
func waitDistinct(t *testing.T, addr, topic string, n int, timeout time.Duration) map[string]int {
	t.Helper()
	cl := newReader(t, addr, topic)
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	counts := map[string]int{}
	for len(counts) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("timed out after %s waiting for %d distinct messages in %s: %d seen", timeout, n, topic, len(counts))
		}
		fs.EachRecord(func(r *kgo.Record) { counts[string(r.Value)]++ })
	}
	return counts
}

func duplicates(counts map[string]int) int {
	d := 0
	for _, c := range counts {
		d += c - 1
	}
	return d
}

// kcat runs kcat with a timeout and returns its output; it fails the test
// when kcat fails.
func kcat(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	out, err := kcatTry(stdin, args...)
	if err != nil {
		t.Fatalf("kcat %v: %v\n%s", args, err, out)
	}
	return out
}

// kcatTry runs kcat and returns its output and error.
func kcatTry(stdin string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, "kcat", args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	return string(out), err
}
