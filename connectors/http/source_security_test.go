package http

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// rawRequest writes head (and the start of a chunked body that never
// ends) on a fresh connection and returns the status line it gets.
func rawRequest(t *testing.T, url, head string) (string, net.Conn) {
	t.Helper()
	addr := strings.TrimPrefix(strings.SplitN(strings.TrimPrefix(url, "http://"), "/", 2)[0], "http://")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if _, err := fmt.Fprintf(conn, "%s\r\n", head); err != nil {
		t.Fatal(err)
	}
	_ = conn.SetReadDeadline(time.Now().Add(20 * time.Second)) // a hang fails, not blocks
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("no answer: %v", err)
	}
	return strings.TrimSpace(line), conn
}

const endlessBody = "Transfer-Encoding: chunked\r\n\r\n400\r\n" // 1024 bytes promised, none sent

func TestUnauthenticatedBodyIsNeverRead(t *testing.T) {
	for name, cfg := range map[string]map[string]any{
		"bearer": {"bearer_token": "tok"},
		"hmac":   {"hmac_secret": "s3cret"},
		"stripe": {"hmac_secret": "s3cret", "hmac_scheme": "stripe"},
	} {
		cfg["body_timeout"] = time.Hour // an answer can only come from the headers
		_, url := webhook(t, cfg, 4)
		status, _ := rawRequest(t, url, "POST /hook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer nope\r\n"+endlessBody)
		if !strings.HasPrefix(status, "HTTP/1.1 401") {
			t.Errorf("%s: bad credentials with an endless body: %q, want 401 at once", name, status)
		}
	}
}

func TestSlowBodyGets408(t *testing.T) {
	_, url := webhook(t, map[string]any{"bearer_token": "tok", "body_timeout": 100 * time.Millisecond}, 4)
	status, _ := rawRequest(t, url, "POST /hook HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer tok\r\n"+endlessBody)
	if !strings.HasPrefix(status, "HTTP/1.1 408") {
		t.Fatalf("a body that never ends: %q, want 408", status)
	}
}

func TestHugeHeadersGet431(t *testing.T) {
	_, url := webhook(t, map[string]any{"max_header_bytes": 4096}, 4)
	status, _ := rawRequest(t, url, "POST /hook HTTP/1.1\r\nHost: x\r\nX-Big: "+strings.Repeat("a", 64<<10)+"\r\nContent-Length: 0\r\n")
	if !strings.HasPrefix(status, "HTTP/1.1 431") {
		t.Fatalf("64 KiB of headers over max_header_bytes 4096: %q, want 431", status)
	}
}

func TestConnectionsAreCapped(t *testing.T) {
	src, url := webhook(t, map[string]any{"max_connections": 2}, 4)
	addr := strings.SplitN(strings.TrimPrefix(url, "http://"), "/", 2)[0]
	var idle []net.Conn
	for range 2 { // two clients that connect and say nothing take every slot
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		idle = append(idle, c)
	}
	third := post(t, http.DefaultClient, "POST", url, "3", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan *message.Message, 1)
	go func() { // owned: ends with a message or on cancel
		buf := make([]*message.Message, 1)
		if n, _ := src.Read(ctx, buf); n == 1 {
			got <- buf[0]
		}
		close(got)
	}()
	select {
	case <-got:
		t.Fatal("a third connection was served while two were open (max_connections 2)")
	case <-time.After(300 * time.Millisecond):
	}
	idle[0].Close() // a slot frees: the third is accepted and handled
	m := <-got
	if m == nil || string(m.Raw) != "3" {
		t.Fatalf("after a slot freed: %v", m)
	}
	src.Ack(m)
	if s := status(t, third); s != http.StatusOK {
		t.Fatalf("third request: %d, want 200", s)
	}
}

func TestSignatureSchemes(t *testing.T) {
	now := time.Now()
	for _, c := range []struct {
		scheme string
		sign   func(h http.Header, body string)
		want   int
	}{
		{"flowrun", signedBy("flowrun", now), http.StatusOK},
		{"flowrun", signedBy("flowrun", now.Add(-10*time.Minute)), http.StatusUnauthorized}, // a replay, outside the window
		{"flowrun", signedBy("flowrun", now.Add(10*time.Minute)), http.StatusUnauthorized},
		{"flowrun", func(h http.Header, body string) { // the timestamp changed after signing
			signedBy("flowrun", now)(h, body)
			h.Set(timestampHeader, fmt.Sprint(now.Unix()-1))
		}, http.StatusUnauthorized},
		{"flowrun", func(h http.Header, body string) { // signed without the timestamp (the old, replayable form)
			signedBy("github", now)(h, body)
			h.Set("X-Signature-256", h.Get("X-Hub-Signature-256"))
			h.Set(timestampHeader, fmt.Sprint(now.Unix()))
		}, http.StatusUnauthorized},
		{"github", signedBy("github", now), http.StatusOK},
		{"github", func(h http.Header, body string) { signedBy("github", now)(h, body+"x") }, http.StatusUnauthorized},
		{"github", func(h http.Header, _ string) { h.Set("X-Hub-Signature-256", "sha1=abc") }, http.StatusUnauthorized},
		{"stripe", signedBy("stripe", now), http.StatusOK},
		{"stripe", func(h http.Header, body string) { // several v1 (a secret being rolled), one good
			signedBy("stripe", now)(h, body)
			h.Set("Stripe-Signature", strings.Replace(h.Get("Stripe-Signature"), ",v1=", ",v0=ab,v1="+strings.Repeat("00", 32)+",v1=", 1))
		}, http.StatusOK},
		{"stripe", signedBy("stripe", now.Add(-6*time.Minute)), http.StatusUnauthorized},
		{"stripe", func(h http.Header, body string) { signedBy("stripe", now)(h, body+"x") }, http.StatusUnauthorized},
		{"stripe", func(h http.Header, _ string) { h.Set("Stripe-Signature", "v1=00") }, http.StatusUnauthorized},
	} {
		src, url := webhook(t, map[string]any{"hmac_secret": "s3cret", "hmac_scheme": c.scheme}, 4)
		h := http.Header{}
		c.sign(h, `{"a":1}`)
		answer := post(t, http.DefaultClient, "POST", url, `{"a":1}`, h)
		if c.want == http.StatusOK {
			src.Ack(read1(t, src))
		}
		if got := status(t, answer); got != c.want {
			t.Errorf("%s %v: %d, want %d", c.scheme, h, got, c.want)
		}
	}
}

// signedBy signs as a sender of the scheme does, at time at.
func signedBy(scheme string, at time.Time) func(http.Header, string) {
	a := auth{secret: "s3cret", scheme: scheme, header: defaultSignatureHeader[scheme]}
	return func(h http.Header, body string) { a.setSignature(h, []byte(body), at) }
}

func TestOnlyAllowedMetaHeadersBecomeMetadata(t *testing.T) {
	src, url := webhook(t, map[string]any{"meta_headers": []any{"x-meta-trace-id"}}, 4)
	answer := post(t, http.DefaultClient, "POST", url, "x", http.Header{
		"X-Meta-Trace-Id": {"t-1"}, "X-Meta-Error": {"forged"}, "X-Meta-Flow": {"other"}, "X-Meta-Anything": {"y"}})
	m := read1(t, src)
	src.Ack(m)
	status(t, answer)
	if len(m.Meta) != 1 || m.Meta["trace-id"] != "t-1" {
		t.Fatalf("meta %v, want only trace-id", m.Meta)
	}
}

func TestMalformedBodyGets400(t *testing.T) {
	src, url := webhook(t, nil, 4)
	answer := post(t, http.DefaultClient, "POST", url, "{not json", nil)
	// The runtime nacks a body its codec cannot decode with a DecodeError.
	src.Nack(read1(t, src), fmt.Errorf("stage map: %w", &registry.DecodeError{Err: errors.New("invalid character 'n'")}))
	if s := status(t, answer); s != http.StatusBadRequest {
		t.Fatalf("malformed body: %d, want 400 (503 would make the caller send it again forever)", s)
	}
}

func TestNonLoopbackNeedsAuthentication(t *testing.T) {
	for _, c := range []struct {
		cfg map[string]any
		ok  bool
	}{
		{map[string]any{"address": "0.0.0.0:8080"}, false},
		{map[string]any{"address": ":8080"}, false},
		{map[string]any{"address": "10.1.2.3:8080"}, false},
		{map[string]any{"address": "0.0.0.0:8080", "bearer_token": "t"}, true},
		{map[string]any{"address": "0.0.0.0:8080", "hmac_secret": "s"}, true},
		{map[string]any{"address": "0.0.0.0:8080", "allow_unauthenticated": true}, true},
		{map[string]any{"address": "127.0.0.1:8080"}, true},
		{map[string]any{"address": "[::1]:8080"}, true},
		{map[string]any{"address": "localhost:8080"}, true},
	} {
		err := validateSource(conformance.Config(t, sourceFields, c.cfg))
		var pe *registry.PathError
		if c.ok != (err == nil) || (err != nil && (!errors.As(err, &pe) || pe.Path[0] != "address")) {
			t.Errorf("%v: %v", c.cfg, err)
		}
	}
	err := validateSource(conformance.Config(t, sourceFields, map[string]any{"meta_headers": []any{"X-Trace"}}))
	if err == nil || !strings.Contains(err.Error(), `"X-Trace" is not an X-Meta-<name> header`) {
		t.Errorf("meta_headers X-Trace: %v", err)
	}
}

func TestDeclaredOversizedBodyGets413Unread(t *testing.T) {
	_, url := webhook(t, map[string]any{"max_body": 8, "body_timeout": time.Hour}, 4)
	status, _ := rawRequest(t, url, "POST /hook HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\n")
	if !strings.HasPrefix(status, "HTTP/1.1 413") {
		t.Fatalf("Content-Length over max_body, no body sent: %q, want 413 at once", status)
	}
}
