package http

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v4"
	"github.com/flowrun/flowrun/connectors/internal/resend"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// sink sends one request per message, `parallel` at a time per Write,
// and returns once every one got a 2xx.
type sink struct {
	url, method, contentType string
	fixed                    http.Header
	token                    string
	auth                     auth // its secret signs each request
	client                   *http.Client
	retryFor                 time.Duration
	backoff, maxBackoff      time.Duration
	parallel                 int
	logger                   *slog.Logger

	mu     sync.RWMutex
	closed bool
}

// permanentError is a 4xx answer: sending the same request again cannot help.
type permanentError struct {
	status int
	body   string
}

func (e *permanentError) Error() string {
	return fmt.Sprintf("refused with %d %s: %s", e.status, http.StatusText(e.status), e.body)
}

func newSink(_ context.Context, cfg registry.Config, env registry.Env) (*sink, error) {
	u, err := sinkURL(cfg)
	if err != nil {
		return nil, err
	}
	transport := http.DefaultTransport.(*http.Transport).Clone()
	transport.MaxIdleConnsPerHost = max(cfg.Int("parallel"), 2)
	if ca := cfg.String("tls_ca"); ca != "" {
		pem, err := os.ReadFile(ca)
		if err != nil {
			return nil, fmt.Errorf("tls_ca: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls_ca %s: no PEM certificate in it", ca)
		}
		transport.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	fixed := http.Header{}
	for _, e := range cfg.Entries("headers") {
		fixed.Set(e.Key, registry.ToString(e.Value))
	}
	return &sink{
		url: u.String(), method: cfg.String("method"), contentType: cfg.String("content_type"), fixed: fixed,
		token: cfg.String("bearer_token"), auth: authOf(cfg),
		client:   &http.Client{Transport: transport, Timeout: cfg.Duration("timeout")},
		retryFor: cfg.Duration("retry_for"), backoff: cfg.Duration("initial_backoff"), maxBackoff: cfg.Duration("max_backoff"),
		parallel: max(cfg.Int("parallel"), 1),
		logger:   env.LoggerOrDiscard().With("connector", "http", "url", u.Redacted(), "role", env.Role),
	}, nil
}

// Write sends msgs and returns nil once each got a 2xx answer.
func (s *sink) Write(ctx context.Context, msgs []*message.Message) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return errors.New("http sink: closed")
	}
	errs := make([]error, len(msgs))
	slots := make(chan struct{}, s.parallel)
	var wg sync.WaitGroup
	for i, m := range msgs {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			errs[i] = ctx.Err()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer func() { <-slots }()
			errs[i] = s.send(ctx, m)
		}()
	}
	wg.Wait()
	return resend.Policy{What: "http sink " + s.url}.Result(errs)
}

// send delivers one message, retrying 5xx, 429 and connection errors
// with exponential backoff (at least a Retry-After's wait) for up to
// retry_for within ctx; a 4xx is permanent at once.
func (s *sink) send(ctx context.Context, m *message.Message) error {
	b := &retryAfterBackOff{ExponentialBackOff: backoff.NewExponentialBackOff(), max: s.maxBackoff}
	b.InitialInterval, b.MaxInterval, b.MaxElapsedTime = s.backoff, s.maxBackoff, s.retryFor
	b.Reset()
	var policy backoff.BackOff = b
	if s.retryFor <= 0 {
		policy = &backoff.StopBackOff{}
	}
	var last error
	err := backoff.RetryNotify(func() error {
		last = s.try(ctx, m)
		b.after = 0
		var after *retryAfter
		if errors.As(last, &after) {
			b.after = after.d
		}
		return last
	}, backoff.WithContext(policy, ctx), func(err error, wait time.Duration) {
		s.logger.Debug("http send failed; trying again", "id", m.ID, "err", err, "backoff", wait)
	})
	switch {
	case err == nil:
		return nil
	case ctx.Err() != nil && !errors.Is(last, ctx.Err()): // ended while waiting to try again
		return errors.Join(last, ctx.Err())
	}
	return last // still marked permanent for a 4xx
}

// retryAfterBackOff waits at least what the server's Retry-After asked
// (up to max_backoff).
type retryAfterBackOff struct {
	*backoff.ExponentialBackOff
	after, max time.Duration
}

func (b *retryAfterBackOff) NextBackOff() time.Duration {
	next := b.ExponentialBackOff.NextBackOff()
	if next == backoff.Stop {
		return next
	}
	return max(next, min(b.after, b.max))
}

// retryAfter is a 429/503 answer with a Retry-After header.
type retryAfter struct {
	status int
	d      time.Duration
}

func (e *retryAfter) Error() string {
	return fmt.Sprintf("answered %d %s", e.status, http.StatusText(e.status))
}

// try makes one request.
func (s *sink) try(ctx context.Context, m *message.Message) error {
	req, err := http.NewRequestWithContext(ctx, s.method, s.url, bytes.NewReader(m.Body))
	if err != nil {
		return resend.Permanent(&permanentError{status: 0, body: err.Error()})
	}
	for k, v := range s.fixed {
		req.Header[k] = v
	}
	req.Header.Set("Content-Type", s.contentType)
	for k, v := range m.Meta {
		if k == "content-type" {
			req.Header.Set("Content-Type", v)
			continue
		}
		req.Header.Set(metaPrefix+k, url.PathEscape(v))
	}
	if m.ID != "" {
		req.Header.Set(idHeader, m.ID)
	}
	if m.Key != "" {
		req.Header.Set(keyHeader, m.Key)
	}
	if s.token != "" {
		req.Header.Set("Authorization", "Bearer "+s.token)
	}
	if s.auth.secret != "" { // signed per try: a retry carries a fresh timestamp
		s.auth.setSignature(req.Header, m.Body, time.Now())
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	snippet, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10)) // reuse the connection
	switch {
	case resp.StatusCode < 300:
		return nil
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		secs, _ := strconv.Atoi(resp.Header.Get("Retry-After"))
		return &retryAfter{status: resp.StatusCode, d: time.Duration(secs) * time.Second}
	}
	return resend.Permanent(&permanentError{status: resp.StatusCode, body: string(bytes.TrimSpace(snippet))})
}

// Close waits for Writes in progress and drops idle connections.
func (s *sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	s.client.CloseIdleConnections()
	return nil
}
