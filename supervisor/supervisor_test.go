package supervisor_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/flowrun/flowrun/connectors/all"
	"github.com/flowrun/flowrun/internal/poll"
	_ "github.com/flowrun/flowrun/middleware"
	_ "github.com/flowrun/flowrun/stages"
	"github.com/flowrun/flowrun/supervisor"
	"go.uber.org/goleak"
)

func write(t *testing.T, path, content string) string {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return strings.Fields(string(b))
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

// start runs s until the test stops it with the returned function,
// which returns the results.
func start(t *testing.T, s *supervisor.Supervisor) func() []supervisor.Result {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan []supervisor.Result, 1)
	go func() { done <- s.Run(ctx) }()
	var (
		once sync.Once
		res  []supervisor.Result
	)
	stop := func() []supervisor.Result {
		once.Do(func() { cancel(); res = <-done })
		return res
	}
	t.Cleanup(func() { stop() })
	return stop
}

func status(s *supervisor.Supervisor, name string) supervisor.Status {
	for _, st := range s.Statuses() {
		if st.Name == name {
			return st
		}
	}
	return supervisor.Status{}
}

func TestSeveralFlowsRunToTheirEndWithExactCounts(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	a := write(t, filepath.Join(dir, "a.yaml"), "version: 1\nname: a\nsource: {generate: {count: 100, payload: counter}}\nsink: {file: {path: "+dir+"/a.out}}\n")
	b := write(t, filepath.Join(dir, "b.yaml"), "version: 1\nname: b\nsource: {generate: {count: 50, payload: counter}}\nstages:\n  - filter: payload % 2 == 0\nsink: {file: {path: "+dir+"/b.out}}\n")
	s, ds := supervisor.Load([]string{a, b}, supervisor.Options{Logger: quiet(), Restart: true})
	if s == nil {
		t.Fatal(ds)
	}
	res := s.Run(context.Background())
	if len(res) != 2 || res[0].Name != "a" || res[0].Summary.In != 100 || res[0].Summary.Out != 100 ||
		res[1].Name != "b" || res[1].Summary.In != 50 || res[1].Summary.Out != 25 || res[1].Summary.Filtered != 25 {
		t.Fatalf("results %+v", res)
	}
	if n, m := len(lines(t, dir+"/a.out")), len(lines(t, dir+"/b.out")); n != 100 || m != 25 {
		t.Fatalf("a wrote %d lines, b %d", n, m)
	}
}

func TestTwoFlowsWithOneNameAreRefused(t *testing.T) {
	dir := t.TempDir()
	flow := "version: 1\nname: same\nsource: {generate: {count: 1, payload: counter}}\nsink: {drop: {}}\n"
	a, b := write(t, dir+"/a.yaml", flow), write(t, dir+"/b.yaml", flow)
	s, ds := supervisor.Load([]string{a, b}, supervisor.Options{Logger: quiet()})
	if s != nil || len(ds) != 1 || !strings.Contains(ds[0].String(), b+`: name: flow name "same" is also the name of the flow in `+a) {
		t.Fatalf("load: %v", ds)
	}
}

// A flow whose source cannot be opened restarts with backoff while the
// other flow keeps running, and runs once its source is there.
func TestAFailingFlowRestartsWhileTheOtherRuns(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	a := write(t, dir+"/a.yaml", "version: 1\nname: a\nsource: {generate: {count: 0, interval: 1ms, payload: counter}}\nsink: {file: {path: "+dir+"/a.out}}\n")
	b := write(t, dir+"/b.yaml", "version: 1\nname: b\nsource: {file: {path: "+dir+"/b.in}}\nsink: {file: {path: "+dir+"/b.out}}\n")
	s, ds := supervisor.Load([]string{a, b}, supervisor.Options{Logger: quiet(), Restart: true, MinBackoff: time.Millisecond, MaxBackoff: 4 * time.Millisecond})
	if s == nil {
		t.Fatal(ds)
	}
	stop := start(t, s)
	poll.Until(t, "b to restart 3 times while a reads", 30*time.Second, func() bool {
		sb, sa := status(s, "b"), status(s, "a")
		return sb.Restarts >= 3 && sa.State == supervisor.Running && sa.In > 0
	})
	if sb := status(s, "b"); !strings.Contains(sb.LastError, "cannot open") || s.Ready() {
		t.Fatalf("b %+v, ready %v", sb, s.Ready())
	}
	// Whole or not at all: the restarting flow may open it at any moment.
	if err := os.Rename(write(t, dir+"/b.tmp", "1\n2\n3\n"), dir+"/b.in"); err != nil {
		t.Fatal(err)
	}
	poll.Until(t, "b to run to its end", 30*time.Second, func() bool { return status(s, "b").State == supervisor.Stopped })
	poll.Until(t, "ready: a reads, b has finished", 30*time.Second, s.Ready)
	res := stop()
	if got := lines(t, dir+"/b.out"); strings.Join(got, ",") != "1,2,3" || res[1].Summary.Out != 3 || res[1].Err != nil || res[1].Restarts < 3 {
		t.Fatalf("b wrote %v; result %+v", got, res[1])
	}
	if n := len(lines(t, dir+"/a.out")); int64(n) != res[0].Summary.In || res[0].Summary.Out != res[0].Summary.In {
		t.Fatalf("a read %d and wrote %d lines", res[0].Summary.In, n)
	}
}

// The run ends while a flow waits to restart: the flow could not run,
// and its result says why.
func TestAFlowStoppedInItsBackoffFailed(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	b := write(t, dir+"/b.yaml", "version: 1\nname: b\nsource: {file: {path: "+dir+"/missing}}\nsink: {drop: {}}\n")
	s, _ := supervisor.Load([]string{b}, supervisor.Options{Logger: quiet(), Restart: true, MinBackoff: time.Hour})
	stop := start(t, s)
	poll.Until(t, "b to wait for its restart", 30*time.Second, func() bool { return status(s, "b").State == supervisor.Restarting })
	if res := stop(); res[0].Err == nil || !strings.Contains(res[0].Err.Error(), "cannot open") {
		t.Fatalf("result %+v", res[0])
	}
}

func TestOneFlowOfARunReadsStdin(t *testing.T) {
	dir := t.TempDir()
	flow := "version: 1\nname: %s\nsource: {stdin: {}}\nsink: {drop: {}}\n"
	a, b := write(t, dir+"/a.yaml", fmt.Sprintf(flow, "a")), write(t, dir+"/b.yaml", fmt.Sprintf(flow, "b"))
	s, ds := supervisor.Load([]string{a, b}, supervisor.Options{Logger: quiet()})
	if s != nil || len(ds) != 1 || !strings.Contains(ds[0].String(), b+": source.stdin: the flow in "+a+" reads stdin too") {
		t.Fatalf("load: %v", ds)
	}
}
