package supervisor_test

import (
	"os"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/internal/poll"
	"github.com/flowrun/flowrun/supervisor"
	"go.uber.org/goleak"
)

func versionFlow(out, mapExpr string) string {
	return "version: 1\nname: v\nsource: {generate: {count: 0, interval: 1ms, payload: counter}}\nstages:\n  - map: '" + mapExpr + "'\nsink: {file: {path: " + out + "}}\n"
}

// reports collects what the supervisor reports about rejected files.
type reports struct {
	mu sync.Mutex
	ds diag.List
}

func (r *reports) add(ds diag.List) { r.mu.Lock(); r.ds = append(r.ds, ds...); r.mu.Unlock() }

func (r *reports) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ds.Error()
}

// versions returns the "v" of each output line, in file order.
func versions(t *testing.T, path string) []string {
	var vs []string
	for _, l := range lines(t, path) {
		i := strings.Index(l, `"v":`)
		vs = append(vs, l[i+4:i+5])
	}
	return vs
}

// checkSwapped checks that every message read was written, each
// version's messages together and in order of versions.
func checkSwapped(t *testing.T, out string, res supervisor.Result, want string) {
	t.Helper()
	vs := versions(t, out)
	seq := ""
	for i, v := range vs {
		if i == 0 || vs[i-1] != v {
			seq += v
		}
	}
	if seq != want || int64(len(vs)) != res.Summary.In || res.Summary.Out != res.Summary.In || res.Summary.Lost != 0 {
		t.Fatalf("versions in order %q (want %q); %d lines; result %+v", seq, want, len(vs), res)
	}
}

// A reload (SIGHUP) with problems leaves the running version alone; a
// valid one starts once the running one has drained: every message read
// is written, the old version's all before the new one's.
func TestReloadKeepsTheOldVersionOnProblemsAndSwapsAfterDrain(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	out := dir + "/out"
	file := write(t, dir+"/v.yaml", versionFlow(out, `{"v": 1, "n": payload}`))
	hup := make(chan os.Signal, 1)
	rep := &reports{}
	s, ds := supervisor.Load([]string{file}, supervisor.Options{Logger: quiet(), Reload: hup, Report: rep.add})
	if s == nil {
		t.Fatal(ds)
	}
	stop := start(t, s)
	poll.Until(t, "v1 to write", 30*time.Second, func() bool { return len(lines(t, out)) > 10 })

	write(t, file, versionFlow(out, `{"v": 2, "n": paylod}`))
	hup <- syscall.SIGHUP
	poll.Until(t, "the bad version to be rejected", 30*time.Second, func() bool {
		return strings.Contains(status(s, "v").LastError, "unknown name paylod")
	})
	if !strings.Contains(rep.String(), "v.yaml:5:25: stages[0].map: unknown name paylod") {
		t.Fatalf("reported %s", rep)
	}
	before := len(lines(t, out))
	poll.Until(t, "v1 to go on writing", 30*time.Second, func() bool { return len(lines(t, out)) > before+10 })

	write(t, file, versionFlow(out, `{"v": 2, "n": payload}`))
	hup <- syscall.SIGHUP
	poll.Until(t, "v2 to write", 30*time.Second, func() bool { return count(t, out, `"v":2`) > 10 })
	res := stop()
	if st := status(s, "v"); st.Reloads != 1 || st.LastError != "" || res[0].Reloads != 1 {
		t.Fatalf("status %+v, result %+v", st, res[0])
	}
	checkSwapped(t, out, res[0], "12")
}

// --watch: a changed file is reloaded once it holds still; writing the
// same content again is no change.
func TestWatchReloadsAChangedFile(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	dir := t.TempDir()
	out := dir + "/out"
	v1 := versionFlow(out, `{"v": 1, "n": payload}`)
	file := write(t, dir+"/v.yaml", v1)
	s, ds := supervisor.Load([]string{file}, supervisor.Options{Logger: quiet(), Watch: true, WatchInterval: time.Millisecond})
	if s == nil {
		t.Fatal(ds)
	}
	stop := start(t, s)
	poll.Until(t, "v1 to write", 30*time.Second, func() bool { return len(lines(t, out)) > 10 })
	write(t, file, v1)
	write(t, file, versionFlow(out, `{"v": 3, "n": payload}`))
	poll.Until(t, "v3 to write", 30*time.Second, func() bool { return count(t, out, `"v":3`) > 10 })
	res := stop()
	if res[0].Reloads != 1 {
		t.Fatalf("reloads %d", res[0].Reloads)
	}
	checkSwapped(t, out, res[0], "13")
}

func count(t *testing.T, path, substr string) int {
	n := 0
	for _, l := range lines(t, path) {
		if strings.Contains(l, substr) {
			n++
		}
	}
	return n
}
