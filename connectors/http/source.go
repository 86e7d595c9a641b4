package http

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/flowrun/flowrun/connectors/internal/inflight"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/google/uuid"
)

// defaultMaxInFlight is used when the flow gives no in-flight limit.
const defaultMaxInFlight = 1000

// request is a message waiting for its answer; it is the message's Ref.
type request struct {
	answer chan error // buffered: nil = ack, else the nack's error
}

// source is an HTTP server whose handlers wait: first for the flow's
// demand (Read takes the request), then for the message's Ack or Nack.
type source struct {
	path                   string
	maxBody                int64
	queueTimeout, ackTimer time.Duration
	bodyTimeout            time.Duration
	auth                   auth
	headers                []string
	metaHeaders            map[string]string // canonical X-Meta-<name> -> metadata name
	logger                 *slog.Logger
	limit                  *inflight.Limit

	incoming chan *message.Message // unbuffered: a hand-over needs a Read
	closing  chan struct{}
	srv      *http.Server
	served   chan struct{}
	once     sync.Once
}

func newSource(_ context.Context, cfg registry.Config, env registry.Env) (*source, error) {
	tlsConf, err := serverTLS(cfg)
	if err != nil {
		return nil, err
	}
	maxInFlight := cfg.Int("max_in_flight")
	if maxInFlight <= 0 {
		maxInFlight = env.MaxInFlight
	}
	if maxInFlight <= 0 {
		maxInFlight = defaultMaxInFlight
	}
	s := &source{
		path: cfg.String("path"), maxBody: int64(cfg.Int("max_body")),
		queueTimeout: cfg.Duration("queue_timeout"), ackTimer: cfg.Duration("ack_timeout"),
		bodyTimeout: cfg.Duration("body_timeout"), auth: authOf(cfg),
		headers: cfg.Strings("headers"), metaHeaders: map[string]string{},
		logger:   env.LoggerOrDiscard().With("connector", "http", "address", cfg.String("address"), "path", cfg.String("path")),
		limit:    inflight.NewLimit(maxInFlight, registry.ErrSourceClosed),
		incoming: make(chan *message.Message), closing: make(chan struct{}), served: make(chan struct{}),
	}
	if err := validateSource(cfg); err != nil {
		return nil, err
	}
	for _, h := range cfg.Strings("meta_headers") {
		name, _ := cutMetaPrefix(h)
		s.metaHeaders[http.CanonicalHeaderKey(h)] = strings.ToLower(name)
	}
	ln, err := net.Listen("tcp", cfg.String("address"))
	if err != nil {
		return nil, fmt.Errorf("http source: cannot listen on %s: %w; is another process using it?", cfg.String("address"), err)
	}
	ln = limitConnections(ln, max(cfg.Int("max_connections"), 1))
	// Headers have 10s; the body has body_timeout, set per request once
	// it is authenticated. An idle keep-alive connection goes after 60s.
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, IdleTimeout: time.Minute,
		MaxHeaderBytes: cfg.Int("max_header_bytes"), TLSConfig: tlsConf,
		ErrorLog: slog.NewLogLogger(s.logger.Handler(), slog.LevelWarn)}
	go func() { // owned: ends when Close shuts the server down
		defer close(s.served)
		var err error
		if tlsConf != nil {
			err = s.srv.ServeTLS(ln, "", "")
		} else {
			err = s.srv.Serve(ln)
		}
		if err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.logger.Error("http server stopped", "err", err)
		}
	}()
	return s, nil
}

// serverTLS loads tls_cert and tls_key when given (both or neither).
func serverTLS(cfg registry.Config) (*tls.Config, error) {
	cert, key := cfg.String("tls_cert"), cfg.String("tls_key")
	if cert == "" && key == "" {
		return nil, nil
	}
	if cert == "" || key == "" {
		return nil, fmt.Errorf("tls_cert and tls_key go together: set both to serve HTTPS, or neither")
	}
	pair, err := tls.LoadX509KeyPair(cert, key)
	if err != nil {
		return nil, fmt.Errorf("tls_cert/tls_key: %w", err)
	}
	return &tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}, nil
}

// ServeHTTP turns a request into a message and answers once it is handled.
func (s *source) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	switch {
	case r.URL.Path != s.path:
		http.Error(w, "not found: messages go to "+s.path, http.StatusNotFound)
		return
	case r.Method != http.MethodPost && r.Method != http.MethodPut:
		w.Header().Set("Allow", "POST, PUT")
		http.Error(w, "method not allowed: POST a message", http.StatusMethodNotAllowed)
		return
	}
	body, ok := s.readBody(w, r)
	if !ok {
		return
	}
	m := s.toMessage(r, body)
	req := &request{answer: make(chan error, 1)}
	m.Ref = req
	if !s.handOver(w, r, m) {
		return
	}
	timer := time.NewTimer(s.ackTimer)
	defer timer.Stop()
	select {
	case err := <-req.answer:
		var malformed *registry.DecodeError
		var rejected *rejection
		switch {
		case errors.As(err, &malformed): // sending it again cannot help
			http.Error(w, "malformed body: "+err.Error(), http.StatusBadRequest)
			return
		case errors.As(err, &rejected): // nor here: the flow failed on it for good
			http.Error(w, "cannot be handled, and sending it again will not help: "+err.Error(), http.StatusUnprocessableEntity)
			return
		case err != nil:
			retryLater(w, "not handled: "+err.Error())
			return
		}
		w.WriteHeader(http.StatusOK)
		_, _ = io.WriteString(w, "ok\n")
	case <-timer.C:
		retryLater(w, "not handled within "+s.ackTimer.String())
	case <-s.closing:
		retryLater(w, "shutting down")
	case <-r.Context().Done(): // the caller gave up; it will retry or not
	}
}

// handOver waits until a Read takes m; false when it answered instead.
func (s *source) handOver(w http.ResponseWriter, r *http.Request, m *message.Message) bool {
	timer := time.NewTimer(s.queueTimeout)
	defer timer.Stop()
	select {
	case s.incoming <- m:
		return true
	case <-timer.C:
		retryLater(w, "busy: no demand within "+s.queueTimeout.String())
	case <-s.closing:
		retryLater(w, "shutting down")
	case <-r.Context().Done():
	}
	return false
}

func retryLater(w http.ResponseWriter, why string) {
	w.Header().Set("Retry-After", "1")
	http.Error(w, why+"; retry", http.StatusServiceUnavailable)
}

// readBody authenticates r on its headers, then reads its body within
// body_timeout and max_body and checks its signature. False when it
// answered instead: an unauthenticated body is never read.
func (s *source) readBody(w http.ResponseWriter, r *http.Request) ([]byte, bool) {
	rc := http.NewResponseController(w)
	sig, why := s.auth.checkHeaders(r.Header, time.Now())
	if why != "" {
		s.unauthorized(w, rc, why)
		return nil, false
	}
	if r.ContentLength > s.maxBody { // refused before a byte of it is read
		w.Header().Set("Connection", "close")
		http.Error(w, fmt.Sprintf("body over %d bytes", s.maxBody), http.StatusRequestEntityTooLarge)
		return nil, false
	}
	_ = rc.SetReadDeadline(time.Now().Add(s.bodyTimeout))
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		_ = rc.SetReadDeadline(time.Now()) // answer without draining the rest
		w.Header().Set("Connection", "close")
	}
	var tooBig *http.MaxBytesError
	var netErr net.Error
	switch {
	case errors.As(err, &tooBig):
		http.Error(w, fmt.Sprintf("body over %d bytes", s.maxBody), http.StatusRequestEntityTooLarge)
		return nil, false
	case errors.As(err, &netErr) && netErr.Timeout():
		http.Error(w, "body not received within "+s.bodyTimeout.String(), http.StatusRequestTimeout)
		return nil, false
	case err != nil:
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return nil, false
	}
	if why := s.auth.checkBody(sig, body); why != "" {
		s.unauthorized(w, rc, why)
		return nil, false
	}
	// Waiting for the flow is not reading: clear the deadline, or the
	// server's watch for a closed connection would cancel the request.
	_ = rc.SetReadDeadline(time.Time{})
	return body, true
}

// unauthorized answers 401 and closes the connection without reading
// what is left of the body.
func (s *source) unauthorized(w http.ResponseWriter, rc *http.ResponseController, why string) {
	_ = rc.SetReadDeadline(time.Now()) // the server must not drain the body either
	w.Header().Set("Connection", "close")
	if s.auth.token != "" {
		w.Header().Set("WWW-Authenticate", "Bearer")
	}
	http.Error(w, why, http.StatusUnauthorized)
}

// cutMetaPrefix returns the name of an X-Meta-<name> header, any case.
func cutMetaPrefix(header string) (string, bool) {
	if len(header) < len(metaPrefix) || !strings.EqualFold(header[:len(metaPrefix)], metaPrefix) {
		return "", false
	}
	return header[len(metaPrefix):], true
}

// toMessage applies the package's conventions to a request.
func (s *source) toMessage(r *http.Request, body []byte) *message.Message {
	m := &message.Message{Topic: s.path, Raw: body, Key: r.Header.Get(keyHeader), Meta: map[string]string{}}
	for _, h := range []string{idHeader, "Idempotency-Key", "X-Request-Id"} {
		if m.ID = r.Header.Get(h); m.ID != "" {
			break
		}
	}
	if m.ID == "" {
		m.ID = uuid.NewString()
	}
	for header, name := range s.metaHeaders { // only the allowed X-Meta-* headers
		if values := r.Header.Values(header); len(values) > 0 {
			v := strings.Join(values, ", ")
			if dec, err := url.PathUnescape(v); err == nil {
				v = dec
			}
			m.Meta[name] = v
		}
	}
	for _, h := range s.headers {
		if v := r.Header.Values(h); len(v) > 0 {
			m.Meta[strings.ToLower(h)] = strings.Join(v, ", ")
		}
	}
	return m
}

// Read takes waiting requests, up to the open demand and the in-flight limit.
func (s *source) Read(ctx context.Context, buf []*message.Message) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	n, err := s.limit.Acquire(ctx, s.closing, len(buf))
	if err != nil {
		return 0, err
	}
	got := 0
	select {
	case buf[0] = <-s.incoming:
		got = 1
	case <-ctx.Done():
		err = ctx.Err()
	case <-s.closing:
		err = registry.ErrSourceClosed
	}
	for got > 0 && got < n {
		select {
		case buf[got] = <-s.incoming:
			got++
			continue
		default:
		}
		break
	}
	s.limit.Release(n - got)
	return got, err
}

// Ack answers the request 200.
func (s *source) Ack(m *message.Message) { s.settle(m, nil) }

// Nack answers the request 503 so the caller sends it again.
func (s *source) Nack(m *message.Message, cause error) {
	if cause == nil {
		cause = errors.New("nacked")
	}
	s.settle(m, cause)
}

// Reject answers a message that failed for good (no dead letter) with
// 422 (400 for a body that does not decode): never 200, and never 503,
// which would make a retrying caller send it again and again.
func (s *source) Reject(m *message.Message, cause error) {
	if cause == nil {
		cause = errors.New("rejected")
	}
	s.settle(m, &rejection{cause})
}

// rejection is a failure that no retry of the request can mend.
type rejection struct{ error }

func (r *rejection) Unwrap() error { return r.error }

func (s *source) settle(m *message.Message, err error) {
	req, ok := m.Ref.(*request)
	if !ok {
		return
	}
	s.limit.Release(1)
	select {
	case req.answer <- err:
	default: // settled twice: the first answer stands
	}
}

// Close answers every waiting request 503 and stops the server.
func (s *source) Close() error {
	var err error
	s.once.Do(func() {
		close(s.closing) // waiting handlers answer 503 now
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		if s.srv.Shutdown(ctx) != nil {
			// Connections a client opened but never used count as busy
			// for 5s; every handler has answered, so cut them.
			err = s.srv.Close()
		}
		<-s.served
	})
	if err != nil {
		return fmt.Errorf("http source close: %w", err)
	}
	return nil
}
