//go:build integration

package nats

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"testing"
	"time"
)

// natsServerBin is the nats-server this test starts; .ci/run installs
// Debian's nats-server package, so the secured tests never skip there.
func natsServerBin(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("nats-server"); err == nil {
		return p
	}
	if _, err := os.Stat("/usr/sbin/nats-server"); err == nil {
		return "/usr/sbin/nats-server"
	}
	t.Fatal("nats-server is not installed: apt-get install nats-server (.ci/run does)")
	return ""
}

var listening = regexp.MustCompile(`Listening for client connections on (\S+:\d+)`)

// startNATS runs a nats-server of its own with the configuration conf
// (its listen and jetstream lines are added) on a free port, stopped
// with the test, and returns its host:port.
func startNATS(t *testing.T, conf string) string {
	t.Helper()
	dir := t.TempDir()
	path := filepath.Join(dir, "nats.conf")
	conf = fmt.Sprintf("listen: 127.0.0.1:-1\njetstream {store_dir: %q}\n%s", filepath.Join(dir, "js"), conf)
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(natsServerBin(t), "-c", path)
	out, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	var log []string // the server's output, read once done is closed
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-done
		if t.Failed() {
			t.Logf("nats-server log:\n%s", joinLines(log))
		}
	})
	addr := make(chan string, 1)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log = append(log, sc.Text())
			if m := listening.FindStringSubmatch(sc.Text()); m != nil {
				addr <- m[1]
			}
		}
		_ = cmd.Wait()
		close(addr)
	}()
	select {
	case a, ok := <-addr:
		if !ok {
			<-done
			t.Fatalf("nats-server exited before listening (config:\n%s)\n%s", conf, joinLines(log))
		}
		return a
	case <-time.After(30 * time.Second):
		t.Fatal("nats-server did not listen within 30s")
	}
	return ""
}

func joinLines(lines []string) string {
	s := ""
	for _, l := range lines {
		s += l + "\n"
	}
	return s
}
