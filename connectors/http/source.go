package http

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
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
	token, secret, sigHdr  string
	headers                []string
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
		token: cfg.String("bearer_token"), secret: cfg.String("hmac_secret"), sigHdr: cfg.String("signature_header"),
		headers:  cfg.Strings("headers"),
		logger:   env.LoggerOrDiscard().With("connector", "http", "address", cfg.String("address"), "path", cfg.String("path")),
		limit:    inflight.NewLimit(maxInFlight, registry.ErrSourceClosed),
		incoming: make(chan *message.Message), closing: make(chan struct{}), served: make(chan struct{}),
	}
	if !strings.HasPrefix(s.path, "/") {
		return nil, fmt.Errorf("path %q: start it with /", s.path)
	}
	ln, err := net.Listen("tcp", cfg.String("address"))
	if err != nil {
		return nil, fmt.Errorf("http source: cannot listen on %s: %w; is another process using it?", cfg.String("address"), err)
	}
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second, TLSConfig: tlsConf,
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
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.maxBody))
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			http.Error(w, fmt.Sprintf("body over %d bytes", s.maxBody), http.StatusRequestEntityTooLarge)
			return
		}
		http.Error(w, "reading the body: "+err.Error(), http.StatusBadRequest)
		return
	}
	if msg, ok := s.authorized(r, body); !ok {
		w.Header().Set("WWW-Authenticate", "Bearer")
		http.Error(w, msg, http.StatusUnauthorized)
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
		if err != nil {
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

// authorized checks the bearer token and the HMAC signature, when set.
func (s *source) authorized(r *http.Request, body []byte) (string, bool) {
	if s.token != "" {
		got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(s.token)) != 1 {
			return "missing or wrong bearer token", false
		}
	}
	if s.secret != "" {
		got, ok := strings.CutPrefix(r.Header.Get(s.sigHdr), "sha256=")
		sig, err := hex.DecodeString(got)
		if !ok || err != nil || !hmac.Equal(sig, sign(s.secret, body)) {
			return "missing or wrong " + s.sigHdr + " signature (want sha256=<hex HMAC-SHA256 of the body>)", false
		}
	}
	return "", true
}

func sign(secret string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write(body)
	return mac.Sum(nil)
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
	for name, values := range r.Header {
		if rest, ok := strings.CutPrefix(name, metaPrefix); ok && rest != "" {
			v := strings.Join(values, ", ")
			if dec, err := url.PathUnescape(v); err == nil {
				v = dec
			}
			m.Meta[strings.ToLower(rest)] = v
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
