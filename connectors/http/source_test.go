package http

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func spec(t *testing.T) *registry.ConnectorSpec {
	s, ok := registry.LookupConnector("http")
	if !ok {
		t.Fatal("http connector not registered")
	}
	return s
}

// webhook starts a source on a free port with extra settings.
func webhook(t *testing.T, raw map[string]any, maxInFlight int) (registry.Source, string) {
	t.Helper()
	addr := freeAddr(t)
	cfg := map[string]any{"address": addr, "path": "/hook"}
	for k, v := range raw {
		cfg[k] = v
	}
	src, err := spec(t).Source(context.Background(), conformance.Config(t, sourceFields, cfg), conformance.Env(t, "source", maxInFlight))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src, "http://" + addr + "/hook"
}

// post sends a request in the background; the answer arrives on the channel.
func post(t *testing.T, client *http.Client, method, url, body string, header http.Header) <-chan *http.Response {
	out := make(chan *http.Response, 1)
	req, _ := http.NewRequest(method, url, strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	go func() {
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s %s: %v", method, url, err)
			out <- nil
			return
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		out <- resp
	}()
	return out
}

func status(t *testing.T, ch <-chan *http.Response) int {
	t.Helper()
	select {
	case r := <-ch:
		if r == nil {
			t.FailNow()
		}
		return r.StatusCode
	case <-time.After(10 * time.Second):
		t.Fatal("no answer within 10s")
	}
	return 0
}

func read1(t *testing.T, src registry.Source) *message.Message {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	buf := make([]*message.Message, 1)
	if _, err := src.Read(ctx, buf); err != nil {
		t.Fatalf("Read: %v", err)
	}
	return buf[0]
}

func TestAnswerFollowsTheMessagesFate(t *testing.T) {
	src, url := webhook(t, map[string]any{"meta_headers": []any{"X-Meta-Trace"}}, 4)
	acked := post(t, http.DefaultClient, "POST", url, `{"a":1}`, http.Header{"X-Message-Id": {"m1"}, "X-Meta-Trace": {"t%0A2"}, "Content-Type": {"application/json"}})
	m := read1(t, src)
	if m.ID != "m1" || string(m.Raw) != `{"a":1}` || m.Meta["trace"] != "t\n2" || m.Meta["content-type"] != "application/json" || m.Topic != "/hook" {
		t.Fatalf("message %+v", m)
	}
	select {
	case <-acked:
		t.Fatal("answered before the message was handled")
	case <-time.After(100 * time.Millisecond):
	}
	src.Ack(m)
	if s := status(t, acked); s != http.StatusOK {
		t.Fatalf("after Ack: %d, want 200", s)
	}
	nacked := post(t, http.DefaultClient, "POST", url, "x", nil)
	src.Nack(read1(t, src), context.Canceled)
	if s := status(t, nacked); s != http.StatusServiceUnavailable {
		t.Fatalf("after Nack: %d, want 503", s)
	}
}

func TestRequestsBeyondDemandWaitThen503(t *testing.T) {
	src, url := webhook(t, map[string]any{"queue_timeout": 200 * time.Millisecond, "ack_timeout": 300 * time.Millisecond}, 1)
	first := post(t, http.DefaultClient, "POST", url, "1", nil)
	m := read1(t, src)
	second := post(t, http.DefaultClient, "POST", url, "2", nil)
	// The limit (1) is taken: a Read must not hand the second one out.
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	n, _ := src.Read(ctx, make([]*message.Message, 1))
	cancel()
	if n != 0 {
		t.Fatal("a second message was handed out over max in flight 1")
	}
	if s := status(t, second); s != http.StatusServiceUnavailable {
		t.Fatalf("request with no demand: %d, want 503", s)
	}
	if s := status(t, first); s != http.StatusServiceUnavailable {
		t.Fatalf("request not handled within ack_timeout: %d, want 503", s)
	}
	src.Ack(m) // too late for its request; only frees the slot
}

func TestRejectedRequests(t *testing.T) {
	_, url := webhook(t, map[string]any{"max_body": 8, "bearer_token": "tok"}, 4)
	auth := http.Header{"Authorization": {"Bearer tok"}}
	for _, c := range []struct {
		method, url, body string
		header            http.Header
		want              int
	}{
		{"POST", url, "123456789", auth, http.StatusRequestEntityTooLarge},
		{"POST", url, "x", nil, http.StatusUnauthorized},
		{"POST", url, "x", http.Header{"Authorization": {"Bearer nope"}}, http.StatusUnauthorized},
		{"GET", url, "", auth, http.StatusMethodNotAllowed},
		{"POST", strings.TrimSuffix(url, "/hook") + "/other", "x", auth, http.StatusNotFound},
	} {
		if s := status(t, post(t, http.DefaultClient, c.method, c.url, c.body, c.header)); s != c.want {
			t.Errorf("%s %s (%d bytes): %d, want %d", c.method, c.url, len(c.body), s, c.want)
		}
	}
}

func TestHMACSignedByTheSinkIsAccepted(t *testing.T) {
	src, url := webhook(t, map[string]any{"hmac_secret": "s3cret", "signature_header": "X-Hub-Signature-256"}, 4)
	if s := status(t, post(t, http.DefaultClient, "POST", url, "x", http.Header{"X-Hub-Signature-256": {"sha256=00"}})); s != http.StatusUnauthorized {
		t.Fatalf("wrong signature: %d, want 401", s)
	}
	snk := newTestSink(t, map[string]any{"url": url, "hmac_secret": "s3cret", "signature_header": "X-Hub-Signature-256"})
	done := make(chan error, 1)
	go func() { done <- snk.Write(context.Background(), []*message.Message{{ID: "s", Body: []byte("signed")}}) }()
	m := read1(t, src)
	src.Ack(m)
	if err := <-done; err != nil || string(m.Raw) != "signed" {
		t.Fatalf("signed write: %v, got %q", err, m.Raw)
	}
}

func TestTLS(t *testing.T) {
	cert, key := selfSigned(t)
	src, url := webhook(t, map[string]any{"tls_cert": cert, "tls_key": key}, 4)
	url = strings.Replace(url, "http://", "https://", 1)
	snk := newTestSink(t, map[string]any{"url": url, "tls_ca": cert})
	done := make(chan error, 1)
	go func() {
		done <- snk.Write(context.Background(), []*message.Message{{ID: "tls", Body: []byte("secure")}})
	}()
	m := read1(t, src)
	src.Ack(m)
	if err := <-done; err != nil || string(m.Raw) != "secure" {
		t.Fatalf("write over TLS: %v, got %q", err, m.Raw)
	}
	if _, err := spec(t).Source(context.Background(), conformance.Config(t, sourceFields, map[string]any{"address": freeAddr(t), "tls_cert": cert}), conformance.Env(t, "source", 1)); err == nil ||
		!strings.Contains(err.Error(), "tls_cert and tls_key go together") {
		t.Fatalf("cert without key: %v", err)
	}
}

func TestCheck(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	ctx := context.Background()
	err = check(ctx, conformance.Config(t, sourceFields, map[string]any{"address": busy.Addr().String()}), registry.Env{Role: "source"})
	if err == nil || !strings.Contains(err.Error(), "cannot listen on "+busy.Addr().String()) {
		t.Errorf("busy address: %v", err)
	}
	if err := check(ctx, conformance.Config(t, sinkFields, map[string]any{"url": "http://" + busy.Addr().String() + "/x"}), registry.Env{Role: "sink"}); err != nil {
		t.Errorf("reachable sink: %v", err)
	}
	err = check(ctx, conformance.Config(t, sinkFields, map[string]any{"url": "http://" + freeAddr(t) + "/x"}), registry.Env{Role: "sink"})
	if err == nil || !strings.Contains(err.Error(), "cannot reach http://127.0.0.1:") {
		t.Errorf("unreachable sink: %v", err)
	}
}

// selfSigned writes a certificate for 127.0.0.1 and its key.
func selfSigned(t *testing.T) (certFile, keyFile string) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "flowrun test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}, IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}
