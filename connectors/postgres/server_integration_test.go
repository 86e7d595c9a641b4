//go:build integration

package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/internal/testcert"
	"github.com/flowrun/flowrun/internal/poll"
)

// tlsServer is a PostgreSQL cluster of the test's own that accepts only
// TLS: user flowrun needs its password and a client certificate, other
// users their password.
type tlsServer struct {
	addr     string // 127.0.0.1:port
	sockets  string // the directory of its Unix socket
	certs    testcert.Files
	password string  // flowrun's
	db       *sql.DB // flowrun through the Unix socket, for roles and grants
}

// startTLSServer runs initdb into a temporary directory and starts
// postgres on a free port with ssl = on. PostgreSQL refuses to run as
// root, so under root (CI) the cluster belongs to the postgres user.
func startTLSServer(t *testing.T) *tlsServer {
	t.Helper()
	bin := postgresBin(t)
	s := &tlsServer{certs: testcert.New(t, testcert.Options{}), password: `pw with 'quote' \ and space`}
	// Not t.TempDir: its parents are private to this user, and the
	// server may run as another.
	dir, err := os.MkdirTemp("", "flowrun-pg-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	cred := serverCredential(t)
	data := filepath.Join(dir, "data")
	pwfile := filepath.Join(dir, "pw")
	writeOwned(t, pwfile, []byte(s.password), cred)
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		if err := os.Chown(dir, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
	runAs(t, cred, filepath.Join(bin, "initdb"), "-D", data, "-U", "flowrun", "--pwfile", pwfile,
		"-A", "scram-sha-256", "--no-sync", "-E", "UTF8", "--locale=C")

	for name, from := range map[string]string{"server.pem": s.certs.Cert, "server-key.pem": s.certs.Key, "ca.pem": s.certs.CA} {
		b, err := os.ReadFile(from)
		if err != nil {
			t.Fatal(err)
		}
		writeOwned(t, filepath.Join(data, name), b, cred) // the key must be 0600 and the server's
	}
	port := freePort(t)
	s.sockets = dir
	s.addr = "127.0.0.1:" + strconv.Itoa(port)
	appendFile(t, filepath.Join(data, "postgresql.conf"), fmt.Sprintf(`
listen_addresses = '127.0.0.1,127.0.0.2'
port = %d
unix_socket_directories = '%s'
ssl = on
ssl_cert_file = 'server.pem'
ssl_key_file = 'server-key.pem'
ssl_ca_file = 'ca.pem'
fsync = off
max_connections = 40
`, port, dir))
	// No plain `host` line: a connection without TLS finds no entry.
	writeOwned(t, filepath.Join(data, "pg_hba.conf"), []byte(`
local   all all                   trust
hostssl all flowrun 127.0.0.0/8   scram-sha-256 clientcert=verify-full
hostssl all all     127.0.0.0/8   scram-sha-256
`), cred)

	var log strings.Builder
	cmd := exec.Command(filepath.Join(bin, "postgres"), "-D", data)
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT) // fast shutdown
		if err := <-exited; err != nil {
			t.Logf("postgres: %v\n%s", err, &log)
		}
	})
	s.db = s.admin(t)
	poll.Until(t, "the test's PostgreSQL to accept connections", 60*time.Second, func() bool {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("postgres exited: %v\n%s", err, &log)
		default:
		}
		return s.db.Ping() == nil
	})
	return s
}

// dsn is the URL of user on the server, without password or sslmode.
func (s *tlsServer) dsn(user string) string {
	return "postgres://" + user + "@" + s.addr + "/postgres"
}

// tls is the flowrun tls block that trusts the server and presents
// flowrun's client certificate.
func (s *tlsServer) tls() map[string]any {
	return map[string]any{"ca_file": s.certs.CA, "cert_file": s.certs.ClientCert, "key_file": s.certs.ClientKey}
}

// admin is a connection as flowrun (the superuser) through the local
// socket, for setting up roles and grants.
func (s *tlsServer) admin(t *testing.T) *sql.DB {
	_, port, _ := net.SplitHostPort(s.addr)
	db, err := sql.Open("pgx", fmt.Sprintf("host=%s port=%s user=flowrun dbname=postgres sslmode=disable", s.sockets, port))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func (s *tlsServer) exec(t *testing.T, queries ...string) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, q := range queries {
		if _, err := s.db.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
}

// postgresBin is the newest installed PostgreSQL's bin directory.
func postgresBin(t *testing.T) string {
	dirs, _ := filepath.Glob("/usr/lib/postgresql/*/bin")
	if p, err := exec.LookPath("pg_config"); err == nil {
		if out, err := exec.Command(p, "--bindir").Output(); err == nil {
			dirs = append(dirs, strings.TrimSpace(string(out)))
		}
	}
	slices.SortFunc(dirs, func(a, b string) int { return version(b) - version(a) })
	for _, d := range dirs {
		if _, err := os.Stat(filepath.Join(d, "initdb")); err == nil {
			return d
		}
	}
	t.Fatal("no PostgreSQL server binaries (initdb, postgres) found under /usr/lib/postgresql/*/bin: install postgresql")
	return ""
}

func version(binDir string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(binDir)))
	return n
}

// serverCredential is the postgres user's when the test runs as root,
// else nil (the server runs as the test's user).
func serverCredential(t *testing.T) *syscall.Credential {
	if os.Geteuid() != 0 {
		return nil
	}
	u, err := user.Lookup("postgres")
	if err != nil {
		t.Fatalf("running as root, PostgreSQL needs another user to run as: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)
	return &syscall.Credential{Uid: uint32(uid), Gid: uint32(gid)}
}

func runAs(t *testing.T, cred *syscall.Credential, name string, args ...string) {
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: cred}
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", name, err, out)
	}
}

func writeOwned(t *testing.T, path string, b []byte, cred *syscall.Credential) {
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if cred != nil {
		if err := os.Chown(path, int(cred.Uid), int(cred.Gid)); err != nil {
			t.Fatal(err)
		}
	}
}

func appendFile(t *testing.T, path, text string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if _, err := f.WriteString(text); err != nil {
		t.Fatal(err)
	}
}

// freePort is a port nothing listens on now.
func freePort(t *testing.T) int {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
