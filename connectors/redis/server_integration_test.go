//go:build integration

package redis

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/internal/testcert"
)

const alicePassword = "pw:with#odd-chars"

// securedRedis is a redis-server of the test's own that speaks only
// TLS, requires a client certificate and has no usable default user:
// alice may do anything, narrow only keys that start with "allowed".
type securedRedis struct {
	addr         string
	certs        testcert.Files
	passwordFile string // alicePassword as a mounted secret holds it
}

// redisServerBin is the redis-server this test starts; .ci/run installs
// Debian's redis-server package, so these tests never skip there.
func redisServerBin(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("redis-server")
	if err != nil {
		t.Fatal("redis-server is not installed: apt-get install redis-server (.ci/run does)")
	}
	return p
}

func startSecuredRedis(t *testing.T) *securedRedis {
	t.Helper()
	dir := t.TempDir()
	s := &securedRedis{certs: testcert.New(t, testcert.Options{}), addr: freeAddr(t)}
	_, port, _ := net.SplitHostPort(s.addr)
	conf := fmt.Sprintf(`port 0
bind 127.0.0.1
tls-port %s
tls-cert-file %s
tls-key-file %s
tls-ca-cert-file %s
tls-auth-clients yes
save ""
appendonly no
dir %s
user default off
user alice on ">%s" ~* &* +@all
user narrow on ">%s" ~allowed* +@all
`, port, s.certs.Cert, s.certs.Key, s.certs.CA, dir, alicePassword, alicePassword)
	s.passwordFile = filepath.Join(dir, "redis-password")
	if err := os.WriteFile(s.passwordFile, []byte(alicePassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	startRedis(t, dir, conf)
	return s
}

// freeAddr is a local port nothing listens on right now.
func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// tlsConf is the tls object of a connector that trusts the test CA and
// presents the client certificate.
func (s *securedRedis) tlsConf() map[string]any {
	return map[string]any{"ca_file": s.certs.CA, "cert_file": s.certs.ClientCert, "key_file": s.certs.ClientKey}
}

// alice is the connector settings of user alice over mutual TLS.
func (s *securedRedis) alice() map[string]any {
	return map[string]any{"url": "redis://" + s.addr, "username": "alice", "password": alicePassword, "tls": s.tlsConf()}
}

// startRedis runs redis-server with conf (in dir) until the test ends,
// and returns once it accepts connections.
func startRedis(t *testing.T, dir, conf string) {
	t.Helper()
	path := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(redisServerBin(t), path)
	out, err := cmd.StdoutPipe()
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
			t.Logf("redis-server log:\n%s", strings.Join(log, "\n"))
		}
	})
	ready := make(chan bool, 1)
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			log = append(log, sc.Text())
			if strings.Contains(sc.Text(), "Ready to accept connections") {
				select {
				case ready <- true:
				default:
				}
			}
		}
		_ = cmd.Wait()
		close(ready)
	}()
	select {
	case ok := <-ready:
		if !ok {
			<-done
			t.Fatalf("redis-server exited before it was ready:\n%s", strings.Join(log, "\n"))
		}
	case <-time.After(30 * time.Second):
		t.Fatal("redis-server was not ready within 30s")
	}
}

// startPlainRedis is a redis-server of the test's own without TLS or
// passwords, on a free port.
func startPlainRedis(t *testing.T) string {
	dir := t.TempDir()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	startRedis(t, dir, fmt.Sprintf("port %s\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir %s\n", port, dir))
	return addr
}
