// Package http is the `http` connector: a webhook source (an HTTP server
// that answers a request only once the flow has handled its message) and
// an HTTP sink (a request per message, retried on 5xx and connection
// errors).
//
// Webhook source: a POST (or PUT) to path becomes one message and the
// request waits: 200 once the message is acknowledged (the flow handled
// it), 503 when it was nacked, when the flow has no demand for it within
// queue_timeout, or when it is not handled within ack_timeout — so the
// caller retries, and nothing is lost that the caller did not give up
// on; 400 when the body cannot be decoded (a retry cannot help). Other
// answers: 401 (bearer token or signature wrong, decided on the headers
// before the body is read, except the HMAC's match), 404 (other path),
// 405 (other method), 408 (body slower than body_timeout), 413 (body
// over max_body), 431 (headers over max_header_bytes). At most
// max_connections connections are open at once (see auth.go, limit.go).
//
// Message conventions, the same both ways (a flowrun HTTP sink feeds a
// flowrun webhook with everything kept):
//   - the body is the request body, untouched;
//   - X-Message-Id is the id (else Idempotency-Key, else X-Request-Id,
//     else a new UUID); X-Message-Key is the key;
//   - an X-Meta-<name> header is metadata <name>, lowercased, its value
//     percent-encoded (so any text travels, newlines included); the
//     source takes only those listed in meta_headers;
//   - the headers listed in `headers` are metadata too, named by their
//     lowercased header name (content-type by default);
//   - the sink sends metadata content-type as the Content-Type header;
//   - the topic is the path.
//
// Demand: Read takes waiting requests only against open demand and never
// holds more than the flow's in-flight limit unanswered; the rest wait
// (up to queue_timeout) in their handlers, costing no more than their
// bodies.
package http

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/flowrun/flowrun/registry"
)

// Header names of the conventions.
const (
	idHeader   = "X-Message-Id"
	keyHeader  = "X-Message-Key"
	metaPrefix = "X-Meta-"
)

func init() {
	registry.RegisterConnector(&registry.ConnectorSpec{
		Name:         "http",
		Summary:      "HTTP: a webhook server that answers 200 once the flow handled the message (source), and POSTs with retries (sink, dead letter)",
		SourceFields: sourceFields,
		Redelivers:   true,
		SinkFields:   sinkFields,
		Source: func(ctx context.Context, cfg registry.Config, env registry.Env) (registry.Source, error) {
			return newSource(ctx, cfg, env)
		},
		Sink: func(ctx context.Context, cfg registry.Config, env registry.Env) (registry.Sink, error) {
			return newSink(ctx, cfg, env)
		},
		Check:          check,
		ValidateSource: validateSource,
		ValidateSink:   validateSink,
	})
}

var sourceFields = []registry.Field{
	{Name: "address", Type: registry.String, Default: "127.0.0.1:8080",
		Doc: "host:port to listen on; loopback by default, 0.0.0.0:PORT to accept requests from other machines (then bearer_token or hmac_secret is required, or allow_unauthenticated: true)"},
	{Name: "path", Type: registry.String, Target: true, Default: "/", Doc: "the path that receives messages; others get 404"},
	{Name: "max_body", Type: registry.Size, Default: 1 << 20, Min: registry.F(1),
		Doc: "largest request body; a larger one gets 413"},
	{Name: "queue_timeout", Type: registry.Duration, Default: 5 * time.Second, Min: registry.F(0.001),
		Doc: "how long a request waits for the flow to have demand for it before 503 (Retry-After: 1)"},
	{Name: "ack_timeout", Type: registry.Duration, Default: 30 * time.Second, Min: registry.F(0.001),
		Doc: "how long a request waits for its message to be handled before 503 (the flow may still handle it: the caller's retry is then a duplicate)"},
	{Name: "bearer_token", Type: registry.String, Secret: true,
		Doc: "require Authorization: Bearer <token>, e.g. \"${WEBHOOK_TOKEN}\"; checked before the body is read"},
	{Name: "hmac_secret", Type: registry.String, Secret: true,
		Doc: "require an HMAC-SHA256 signature made with this secret, in the form hmac_scheme says, e.g. \"${WEBHOOK_SECRET}\""},
	{Name: "hmac_scheme", Type: registry.String, Default: schemeFlowrun, Enum: []string{schemeFlowrun, schemeGitHub, schemeStripe},
		Doc: "how requests are signed: flowrun (signature_header sha256=<hex HMAC of \"<t>.<body>\"> and X-Signature-Timestamp t, unix seconds), " +
			"github (X-Hub-Signature-256 sha256=<hex HMAC of the body>; no timestamp, so no replay window: dedupe on signed body fields, not on the unsigned X-GitHub-Delivery), " +
			"stripe (Stripe-Signature t=<t>,v1=<hex HMAC of \"<t>.<body>\">)"},
	{Name: "hmac_tolerance", Type: registry.Duration, Default: 5 * time.Minute, Min: registry.F(1),
		Doc: "flowrun and stripe schemes: a signed timestamp further than this from now is refused (401), so a captured request cannot be replayed later"},
	{Name: "signature_header", Type: registry.String,
		Doc: "the header holding the HMAC signature (default: X-Signature-256, X-Hub-Signature-256 for github, Stripe-Signature for stripe)"},
	{Name: "allow_unauthenticated", Type: registry.Bool, Default: false,
		Doc: "accept requests without bearer_token or hmac_secret on a non-loopback address (behind a proxy that authenticates, say)"},
	{Name: "tls_cert", Type: registry.String, Doc: "PEM certificate file: serve HTTPS (with tls_key)"},
	{Name: "tls_key", Type: registry.String, Doc: "PEM private key file of tls_cert"},
	{Name: "headers", Type: registry.List, Elem: &registry.Field{Type: registry.String}, Default: []any{"Content-Type"},
		Doc: "request headers copied to metadata under their lowercased names"},
	{Name: "meta_headers", Type: registry.List, Elem: &registry.Field{Type: registry.String},
		Doc: "X-Meta-<name> headers copied to metadata <name> (lowercased, percent-decoded), e.g. [X-Meta-Trace-Id]; other X-Meta-* headers are ignored, so callers set only the metadata you allow"},
	{Name: "max_in_flight", Type: registry.Int, Min: registry.F(1),
		Doc: "most messages handed to the flow and not yet answered (default: the flow's in-flight limit)"},
	{Name: "max_connections", Type: registry.Int, Default: 256, Min: registry.F(1),
		Doc: "most client connections open at once; more wait to be accepted (this bounds the memory that slow or idle clients can hold)"},
	{Name: "body_timeout", Type: registry.Duration, Default: 10 * time.Second, Min: registry.F(0.001),
		Doc: "how long reading a request's body may take once its headers are in (headers have 10s); a slower request gets 408"},
	{Name: "max_header_bytes", Type: registry.Size, Default: 64 << 10, Min: registry.F(1024),
		Doc: "largest request header block; a larger one gets 431"},
}

var sinkFields = []registry.Field{
	{Name: "url", Type: registry.String, Target: true, Required: true, Doc: "where to send each message, http:// or https://"},
	{Name: "method", Type: registry.String, Default: "POST", Enum: []string{"POST", "PUT"}, Doc: "request method"},
	{Name: "headers", Type: registry.Map, Elem: &registry.Field{Type: registry.String},
		Doc: "fixed request headers, e.g. {Authorization: \"Bearer ${API_TOKEN}\"}"},
	{Name: "content_type", Type: registry.String, Default: "application/json",
		Doc: "Content-Type when the message has no content-type metadata"},
	{Name: "bearer_token", Type: registry.String, Secret: true, Doc: "send Authorization: Bearer <token>"},
	{Name: "hmac_secret", Type: registry.String, Secret: true,
		Doc: "sign each request (each try, with a fresh timestamp) as hmac_scheme says, as the webhook source checks"},
	{Name: "hmac_scheme", Type: registry.String, Default: schemeFlowrun, Enum: []string{schemeFlowrun, schemeGitHub, schemeStripe},
		Doc: "signature form: flowrun (timestamped), github or stripe, as for the source"},
	{Name: "signature_header", Type: registry.String, Doc: "the header carrying the signature (default: the scheme's, as for the source)"},
	{Name: "tls_ca", Type: registry.String, Doc: "PEM file of the CA that signed the server's certificate (default: the system's)"},
	{Name: "timeout", Type: registry.Duration, Default: 10 * time.Second, Min: registry.F(0.001), Doc: "time limit of one request"},
	{Name: "retry_for", Type: registry.Duration, Default: 30 * time.Second, Min: registry.F(0),
		Doc: "how long one write retries 5xx, 429 and connection errors (with backoff) before it fails; 4xx fails at once"},
	{Name: "initial_backoff", Type: registry.Duration, Default: 100 * time.Millisecond, Min: registry.F(0.001), Doc: "first wait between tries"},
	{Name: "max_backoff", Type: registry.Duration, Default: 5 * time.Second, Min: registry.F(0.001), Doc: "longest wait between tries"},
	{Name: "parallel", Type: registry.Int, Default: 4, Min: registry.F(1),
		Doc: "requests in flight at once per write; 1 keeps the order of messages"},
}

// validateSource checks the path, that TLS files come in pairs, and
// that a server reachable from other machines authenticates.
func validateSource(cfg registry.Config) error {
	if addr := cfg.String("address"); !loopback(addr) && !authOf(cfg).enabled() && !cfg.Bool("allow_unauthenticated") {
		return registry.At(fmt.Errorf("address %q accepts requests from other machines but the source has no bearer_token or hmac_secret: "+
			"set one, listen on 127.0.0.1, or say allow_unauthenticated: true", addr), "address")
	}
	for i, h := range cfg.Strings("meta_headers") {
		if rest, ok := cutMetaPrefix(h); !ok || rest == "" {
			return registry.At(fmt.Errorf("meta_headers: %q is not an X-Meta-<name> header", h), "meta_headers", i)
		}
	}
	if !strings.HasPrefix(cfg.String("path"), "/") {
		return registry.At(fmt.Errorf("path %q: start it with /", cfg.String("path")), "path")
	}
	if (cfg.String("tls_cert") == "") != (cfg.String("tls_key") == "") {
		return registry.At(fmt.Errorf("tls_cert and tls_key go together: set both to serve HTTPS, or neither"), "tls_cert")
	}
	return nil
}

// validateSink checks the url.
func validateSink(cfg registry.Config) error {
	if _, err := sinkURL(cfg); err != nil {
		return registry.At(err, "url")
	}
	return nil
}

func sinkURL(cfg registry.Config) (*url.URL, error) {
	u, err := url.Parse(cfg.String("url"))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, fmt.Errorf("url %q: want http://host[:port]/path or https://host[:port]/path", withoutUserinfo(cfg.String("url")))
	}
	return u, nil
}

// withoutUserinfo masks the user:password@ of a URL, even one that does
// not parse, so an error about the URL never shows its password.
func withoutUserinfo(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	rest := s[i+3:]
	authority := rest
	if j := strings.IndexAny(rest, "/?#"); j >= 0 {
		authority = rest[:j]
	}
	k := strings.LastIndex(authority, "@")
	if k < 0 {
		return s
	}
	return s[:i+3] + "[redacted]@" + rest[k+1:]
}
