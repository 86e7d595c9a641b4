package http

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/flowrun/flowrun/registry"
)

// HMAC signature schemes (hmac_scheme).
const (
	// flowrun: signature_header = sha256=<hex HMAC of "<t>.<body>">,
	// X-Signature-Timestamp = t (unix seconds), t within hmac_tolerance.
	schemeFlowrun = "flowrun"
	// github: X-Hub-Signature-256 = sha256=<hex HMAC of the body>. GitHub
	// signs no timestamp and no header, so a captured request can be
	// replayed with any X-GitHub-Delivery: dedupe on signed body fields.
	schemeGitHub = "github"
	// stripe: Stripe-Signature = t=<t>,v1=<hex HMAC of "<t>.<body>">[,v1=...],
	// t within hmac_tolerance.
	schemeStripe = "stripe"

	timestampHeader = "X-Signature-Timestamp"
)

// defaultSignatureHeader is each scheme's header when signature_header is not set.
var defaultSignatureHeader = map[string]string{
	schemeFlowrun: "X-Signature-256",
	schemeGitHub:  "X-Hub-Signature-256",
	schemeStripe:  "Stripe-Signature",
}

// auth is the webhook's authentication: a bearer token and/or an HMAC
// signature. Everything but the signature's match is checked on the
// headers, before the body is read.
type auth struct {
	token, secret, scheme, header string
	tolerance                     time.Duration
}

func authOf(cfg registry.Config) auth {
	a := auth{token: cfg.String("bearer_token"), secret: cfg.String("hmac_secret"),
		scheme: cfg.String("hmac_scheme"), header: cfg.String("signature_header"), tolerance: cfg.Duration("hmac_tolerance")}
	if a.scheme == "" {
		a.scheme = schemeFlowrun
	}
	if a.header == "" {
		a.header = defaultSignatureHeader[a.scheme]
	}
	return a
}

func (a auth) enabled() bool { return a.token != "" || a.secret != "" }

// signed is what checkHeaders found in the signature header: the
// candidate signatures and the signed timestamp ("" for github).
type signed struct {
	sigs [][]byte
	ts   string
}

// checkHeaders checks the bearer token, and the signature's presence,
// shape and timestamp; the body is not read yet.
func (a auth) checkHeaders(h http.Header, now time.Time) (signed, string) {
	if a.token != "" {
		got, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer ")
		if !ok || subtle.ConstantTimeCompare([]byte(got), []byte(a.token)) != 1 {
			return signed{}, "missing or wrong bearer token"
		}
	}
	if a.secret == "" {
		return signed{}, ""
	}
	var s signed
	switch a.scheme {
	case schemeStripe:
		for part := range strings.SplitSeq(h.Get(a.header), ",") {
			k, v, _ := strings.Cut(strings.TrimSpace(part), "=")
			switch k {
			case "t":
				s.ts = v
			case "v1":
				if sig, err := hex.DecodeString(v); err == nil && len(sig) == sha256.Size {
					s.sigs = append(s.sigs, sig)
				}
			}
		}
		if s.ts == "" || len(s.sigs) == 0 {
			return s, "missing or malformed " + a.header + " (want t=<unix time>,v1=<hex HMAC-SHA256 of \"<t>.<body>\">)"
		}
	default:
		v, ok := strings.CutPrefix(h.Get(a.header), "sha256=")
		sig, err := hex.DecodeString(v)
		if !ok || err != nil || len(sig) != sha256.Size {
			return s, "missing or malformed " + a.header + " (want sha256=<hex HMAC-SHA256>)"
		}
		s.sigs = [][]byte{sig}
		if a.scheme == schemeFlowrun {
			if s.ts = h.Get(timestampHeader); s.ts == "" {
				return s, "missing " + timestampHeader + " (unix seconds, signed with the body)"
			}
		}
	}
	if s.ts != "" {
		sec, err := strconv.ParseInt(s.ts, 10, 64)
		if err != nil {
			return s, "signature timestamp " + strconv.Quote(s.ts) + " is not unix seconds"
		}
		if d := now.Sub(time.Unix(sec, 0)).Abs(); d > a.tolerance {
			return s, fmt.Sprintf("signature timestamp is %s away from now, over hmac_tolerance %s (a replay, or a clock off)", d.Round(time.Second), a.tolerance)
		}
	}
	return s, ""
}

// checkBody checks the signature against the body.
func (a auth) checkBody(s signed, body []byte) string {
	if a.secret == "" {
		return ""
	}
	want := a.sign(s.ts, body)
	for _, sig := range s.sigs {
		if hmac.Equal(sig, want) {
			return ""
		}
	}
	return "wrong " + a.header + " signature"
}

// sign is the HMAC-SHA256 of the body, prefixed with "<ts>." when the
// scheme signs a timestamp.
func (a auth) sign(ts string, body []byte) []byte {
	mac := hmac.New(sha256.New, []byte(a.secret))
	if a.scheme != schemeGitHub {
		mac.Write([]byte(ts + "."))
	}
	mac.Write(body)
	return mac.Sum(nil)
}

// setSignature signs a request as the scheme's sender does (the sink).
func (a auth) setSignature(h http.Header, body []byte, now time.Time) {
	ts := strconv.FormatInt(now.Unix(), 10)
	sig := hex.EncodeToString(a.sign(ts, body))
	switch a.scheme {
	case schemeStripe:
		h.Set(a.header, "t="+ts+",v1="+sig)
	case schemeGitHub:
		h.Set(a.header, "sha256="+sig)
	default:
		h.Set(a.header, "sha256="+sig)
		h.Set(timestampHeader, ts)
	}
}

// loopback reports whether a listen address accepts only local
// connections ("" and 0.0.0.0 hosts accept any).
func loopback(address string) bool {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
