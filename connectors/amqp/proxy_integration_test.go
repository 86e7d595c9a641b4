//go:build integration

package amqp

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/internal/testcert"
)

// tlsProxy terminates TLS in front of the local RabbitMQ, the way a
// load balancer or stunnel does: it accepts only TLS clients that
// present a certificate its CA signed, and forwards the bytes to
// 127.0.0.1:5672.
type tlsProxy struct {
	addr  string
	certs testcert.Files
	l     net.Listener
	wg    sync.WaitGroup
	mu    sync.Mutex
	conns map[net.Conn]bool
}

func startTLSProxy(t *testing.T, certs testcert.Files) *tlsProxy {
	t.Helper()
	pair, err := tls.LoadX509KeyPair(certs.Cert, certs.Key)
	if err != nil {
		t.Fatal(err)
	}
	pem, err := os.ReadFile(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	clients := x509.NewCertPool()
	clients.AppendCertsFromPEM(pem)
	cfg := &tls.Config{Certificates: []tls.Certificate{pair}, ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs: clients, MinVersion: tls.VersionTLS12}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &tlsProxy{addr: l.Addr().String(), certs: certs, l: l, conns: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept(cfg)
	t.Cleanup(p.close)
	return p
}

func (p *tlsProxy) accept(cfg *tls.Config) {
	defer p.wg.Done()
	for {
		c, err := p.l.Accept()
		if err != nil {
			return
		}
		tc := tls.Server(c, cfg)
		if !p.track(tc) {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			p.serve(tc)
		}()
	}
}

// serve completes the handshake (a client without a valid certificate
// gets TLS's alert), then copies both ways until either side closes.
func (p *tlsProxy) serve(c *tls.Conn) {
	defer p.drop(c)
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	if err := c.Handshake(); err != nil {
		return
	}
	_ = c.SetDeadline(time.Time{})
	backend, err := net.Dial("tcp", "127.0.0.1:5672")
	if err != nil {
		return
	}
	if !p.track(backend) {
		return
	}
	defer p.drop(backend)
	done := make(chan struct{})
	go func() {
		defer close(done)
		_, _ = io.Copy(backend, c)
		_ = backend.Close()
	}()
	_, _ = io.Copy(c, backend)
	_ = c.Close()
	<-done
}

// track records a connection for close; false when the proxy is closed.
func (p *tlsProxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.conns == nil {
		_ = c.Close()
		return false
	}
	p.conns[c] = true
	return true
}

func (p *tlsProxy) drop(c net.Conn) {
	_ = c.Close()
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, c)
}

// close stops accepting, ends every connection and waits for its
// goroutines.
func (p *tlsProxy) close() {
	_ = p.l.Close()
	p.mu.Lock()
	for c := range p.conns {
		_ = c.Close()
	}
	p.conns = nil
	p.mu.Unlock()
	p.wg.Wait()
}

// url is the proxy's amqps:// url, without credentials.
func (p *tlsProxy) url() string { return "amqps://" + p.addr + "/" }

// tls trusts the proxy and presents the client certificate.
func (p *tlsProxy) tls() map[string]any {
	return map[string]any{"ca_file": p.certs.CA, "cert_file": p.certs.ClientCert, "key_file": p.certs.ClientKey}
}
