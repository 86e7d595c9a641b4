package http

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func newTestSink(t *testing.T, raw map[string]any) registry.Sink {
	t.Helper()
	base := map[string]any{"initial_backoff": 10 * time.Millisecond, "max_backoff": 50 * time.Millisecond}
	for k, v := range raw {
		base[k] = v
	}
	snk, err := spec(t).Sink(context.Background(), conformance.Config(t, sinkFields, base), conformance.Env(t, "sink", 0))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { snk.Close() })
	return snk
}

// server answers with the given statuses in turn (the last one repeats)
// and counts requests.
func server(t *testing.T, statuses ...int) (*httptest.Server, *atomic.Int64) {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i := int(n.Add(1)) - 1
		w.WriteHeader(statuses[min(i, len(statuses)-1)])
	}))
	t.Cleanup(srv.Close)
	return srv, &n
}

func TestSinkRetries5xxUntilAccepted(t *testing.T) {
	srv, n := server(t, 500, 503, 502, 200)
	err := newTestSink(t, map[string]any{"url": srv.URL}).Write(context.Background(), []*message.Message{{Body: []byte("x")}})
	if err != nil || n.Load() != 4 {
		t.Fatalf("Write = %v after %d requests; want nil after 4", err, n.Load())
	}
}

func TestSink4xxIsPermanent(t *testing.T) {
	srv, n := server(t, 422)
	err := newTestSink(t, map[string]any{"url": srv.URL}).Write(context.Background(), []*message.Message{{Body: []byte("x")}})
	var perm *permanentError
	var permanent *backoff.PermanentError // the retry middleware leaves it alone
	if !errors.As(err, &perm) || perm.status != 422 || n.Load() != 1 || !errors.As(err, &permanent) {
		t.Fatalf("Write = %v after %d requests; want a permanent 422 after 1", err, n.Load())
	}
}

func TestSinkRetriesAreBoundedByContextAndRetryFor(t *testing.T) {
	srv, _ := server(t, 503)
	snk := newTestSink(t, map[string]any{"url": srv.URL, "retry_for": time.Hour})
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	if err := snk.Write(ctx, []*message.Message{{Body: []byte("x")}}); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Write under a 200ms context = %v, want deadline exceeded", err)
	}
	short := newTestSink(t, map[string]any{"url": srv.URL, "retry_for": 100 * time.Millisecond})
	if err := short.Write(context.Background(), []*message.Message{{Body: []byte("x")}}); err == nil {
		t.Fatal("Write against an always-503 server succeeded")
	}
}

func TestSinkSendsHeadersAndMeta(t *testing.T) {
	got := make(chan http.Header, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got <- r.Header.Clone() }))
	defer srv.Close()
	snk := newTestSink(t, map[string]any{"url": srv.URL, "bearer_token": "tok",
		"headers": []registry.Entry{{Key: "X-Api-Version", Value: "2"}}})
	msg := &message.Message{ID: "i", Key: "k", Body: []byte("{}"), Meta: map[string]string{"error": "line 1\nline 2", "content-type": "text/plain"}}
	if err := snk.Write(context.Background(), []*message.Message{msg}); err != nil {
		t.Fatal(err)
	}
	h := <-got
	want := map[string]string{"Authorization": "Bearer tok", "X-Api-Version": "2", "X-Message-Id": "i", "X-Message-Key": "k",
		"X-Meta-Error": "line%201%0Aline%202", "Content-Type": "text/plain"}
	for k, v := range want {
		if h.Get(k) != v {
			t.Errorf("header %s = %q, want %q", k, h.Get(k), v)
		}
	}
}

// A Retry-After longer than the backoff is honoured, up to max_backoff.
func TestRetryAfterStretchesTheBackoff(t *testing.T) {
	b := &retryAfterBackOff{ExponentialBackOff: backoff.NewExponentialBackOff(), max: 5 * time.Second}
	b.InitialInterval, b.MaxInterval = 10*time.Millisecond, 5*time.Second
	b.Reset()
	if got := b.NextBackOff(); got >= time.Second {
		t.Fatalf("without Retry-After the first wait is %s, want about 10ms", got)
	}
	b.after = 3 * time.Second
	if got := b.NextBackOff(); got != 3*time.Second {
		t.Fatalf("with Retry-After 3s the wait is %s, want 3s", got)
	}
	b.after = time.Hour
	if got := b.NextBackOff(); got != 5*time.Second {
		t.Fatalf("with Retry-After 1h the wait is %s, want max_backoff 5s", got)
	}
}

// A URL that does not parse is named in the error without its password.
func TestSinkURLErrorHidesPassword(t *testing.T) {
	_, err := sinkURL(registry.Config{"url": "https://bob:s3cr%t@hooks.example.com/in"})
	if err == nil || strings.Contains(err.Error(), "s3cr") || !strings.Contains(err.Error(), "https://[redacted]@hooks.example.com/in") {
		t.Fatalf("error = %v, want the url with its userinfo masked", err)
	}
}
