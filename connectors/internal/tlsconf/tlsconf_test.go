package tlsconf

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/internal/testcert"
	"github.com/flowrun/flowrun/registry"
)

func TestConfigReadsFilesAndSaysWhichIsWrong(t *testing.T) {
	certs := testcert.New(t, testcert.Options{})
	notPEM := filepath.Join(t.TempDir(), "ca.txt")
	if err := os.WriteFile(notPEM, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if tc, err := FromConfig(registry.Config{}); tc != nil || err != nil {
		t.Fatalf("no tls object = (%v, %v), want plaintext (nil, nil)", tc, err)
	}
	tc, err := FromConfig(registry.Config{"tls": registry.Config{"ca_file": certs.CA, "cert_file": certs.ClientCert, "key_file": certs.ClientKey, "server_name": "db"}})
	if err != nil || tc.RootCAs == nil || len(tc.Certificates) != 1 || tc.ServerName != "db" || tc.MinVersion != tls.VersionTLS12 || tc.InsecureSkipVerify {
		t.Fatalf("FromConfig = (%+v, %v)", tc, err)
	}
	for name, c := range map[string]struct {
		tls  registry.Config
		path string
		want string
	}{
		"missing CA":     {registry.Config{"ca_file": "/no/such/ca.pem"}, "ca_file", "tls.ca_file: open /no/such/ca.pem: no such file or directory"},
		"CA not PEM":     {registry.Config{"ca_file": notPEM}, "ca_file", "holds no PEM certificate"},
		"cert, no key":   {registry.Config{"cert_file": certs.ClientCert}, "key_file", "tls.cert_file needs key_file"},
		"key, no cert":   {registry.Config{"key_file": certs.ClientKey}, "cert_file", "tls.key_file needs cert_file"},
		"key of another": {registry.Config{"cert_file": certs.ClientCert, "key_file": certs.Key}, "cert_file", "tls client certificate: tls: private key does not match public key"},
	} {
		_, err := Config(c.tls)
		var at *registry.PathError
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.As(err, &at) || at.Path[len(at.Path)-1] != c.path {
			t.Errorf("%s: Config = %v, want %q at tls.%s", name, err, c.want, c.path)
		}
	}
}

// listen serves TLS handshakes with cfg (nil: a plaintext server that
// answers the ClientHello with an error line, as Redis does).
func listen(t *testing.T, cfg *tls.Config) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { l.Close(); <-done })
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if cfg == nil {
					_, _ = c.Read(make([]byte, 1024))
					_, _ = c.Write([]byte("-ERR unknown command\r\n"))
					return
				}
				_ = tls.Server(c, cfg).Handshake() // then close: the client reads EOF, or the alert of a refused certificate
			}()
		}
	}()
	return l.Addr().String()
}

func serverConfig(t *testing.T, certs testcert.Files, clientAuth tls.ClientAuthType) *tls.Config {
	pair, err := tls.LoadX509KeyPair(certs.Cert, certs.Key)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(pem)
	return &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: clientAuth, ClientCAs: pool, MinVersion: tls.VersionTLS12}
}

// Each way a real handshake fails gets its own words.
func TestProblemNamesEachHandshakeFailure(t *testing.T) {
	certs := testcert.New(t, testcert.Options{})
	other := testcert.New(t, testcert.Options{})
	expired := testcert.New(t, testcert.Options{Expired: true})
	good := listen(t, serverConfig(t, certs, tls.NoClientCert))
	mutual := listen(t, serverConfig(t, certs, tls.RequireAndVerifyClientCert))
	old := listen(t, serverConfig(t, expired, tls.NoClientCert))
	plain := listen(t, nil)
	client := func(certs testcert.Files, more registry.Config) *tls.Config {
		c := registry.Config{"ca_file": certs.CA}
		for k, v := range more {
			c[k] = v
		}
		tc, err := Config(c)
		if err != nil {
			t.Fatal(err)
		}
		return tc
	}
	withCert := registry.Config{"cert_file": certs.ClientCert, "key_file": certs.ClientKey}
	cases := []struct {
		name, addr string
		tc         *tls.Config
		want       string // "" = the handshake works
	}{
		{"right CA", good, client(certs, nil), ""},
		{"mutual TLS", mutual, client(certs, withCert), ""},
		{"wrong CA", good, client(other, nil), "TLS failure: NATS server " + good + " has a certificate signed by an authority flowrun does not trust"},
		{"name mismatch", good, client(certs, registry.Config{"server_name": "db.example.com"}), `TLS failure: NATS server ` + good + ` has a certificate that is not valid for "db.example.com"`},
		{"expired", old, client(expired, nil), "TLS failure: NATS server " + old + " has a certificate that is expired or not yet valid"},
		{"plaintext port", plain, client(certs, nil), "TLS failure: NATS server " + plain + " does not speak TLS on this port"},
		{"no client certificate", mutual, client(certs, nil), "TLS failure: NATS server " + mutual + " wants a client certificate and got none"},
		{"client certificate of another CA", mutual, client(certs, registry.Config{"cert_file": other.ClientCert, "key_file": other.ClientKey}),
			"TLS failure: NATS server " + mutual + " refused flowrun's client certificate"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := handshake(t, c.addr, c.tc)
			if c.want == "" {
				if err != nil {
					t.Fatalf("handshake: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("the handshake worked")
			}
			p := Explain("NATS server", c.addr, c.tc, err)
			if p == nil || !strings.Contains(p.Error(), c.want) || !errors.Is(p, err) {
				t.Fatalf("Explain(%v) = %v, want %q wrapping the cause", err, p, c.want)
			}
			// Problem, without the client's tls.Config, words a refused
			// client certificate for both cases at once.
			want := c.want
			if strings.Contains(c.name, "client certificate") {
				want = "TLS failure: NATS server " + c.addr + " refused flowrun's client certificate, or wants one and got none"
			}
			if p := Problem("NATS server", c.addr, c.tc.ServerName, err); p == nil || !strings.Contains(p.Error(), want) || !errors.Is(p, err) {
				t.Fatalf("Problem(%v) = %v, want %q wrapping the cause", err, p, want)
			}
		})
	}
	if p := Explain("NATS server", "x:1", nil, errors.New("authorization violation")); p != nil {
		t.Fatalf("a non-TLS error became %v", p)
	}
}

// handshake dials addr and completes a TLS handshake and a first read,
// where TLS 1.3 clients learn that the server refused their certificate.
func handshake(t *testing.T, addr string, tc *tls.Config) error {
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(2 * time.Second))
	if tc.ServerName == "" {
		tc.ServerName, _, _ = net.SplitHostPort(addr)
	}
	c := tls.Client(conn, tc)
	if err := c.HandshakeContext(context.Background()); err != nil {
		return err
	}
	if _, err := c.Read(make([]byte, 1)); !errors.Is(err, io.EOF) {
		return err
	}
	return nil
}

// No error is no TLS problem, not a panic.
func TestNoErrorIsNoProblem(t *testing.T) {
	if Problem("broker", "b:9093", "b", nil) != nil || Explain("broker", "b:9093", nil, nil) != nil {
		t.Fatal("a nil error was explained")
	}
}
