package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
)

// Problem explains a failed TLS handshake with who (e.g. "broker",
// "NATS server") at addr, which was asked for the certificate of name,
// in words that say what to change. It returns nil when err is not a
// TLS failure, so a caller can try its other explanations.
func Problem(who, addr, name string, err error) error {
	if err == nil {
		return nil
	}
	if p := certProblem(who, addr, name, err); p != nil {
		return p
	}
	if clientCertRefused(err) {
		return fmt.Errorf("TLS failure: %s %s refused flowrun's client certificate, or wants one and got none (%w); set tls.cert_file and tls.key_file to a certificate signed by a CA the %s trusts", who, addr, err, who)
	}
	return nil
}

// Explain is Problem for a client that knows the tls.Config it dialed
// with (nil: none): it takes the server name from it and says whether
// a refused client certificate was missing or not trusted.
func Explain(who, addr string, tc *tls.Config, err error) error {
	if err == nil {
		return nil
	}
	name := ""
	if tc != nil {
		name = tc.ServerName
	}
	if name == "" {
		name, _, _ = net.SplitHostPort(addr)
	}
	if p := certProblem(who, addr, name, err); p != nil {
		return p
	}
	if clientCertRefused(err) {
		return ClientCertProblem(who, addr, tc, err)
	}
	return nil
}

// ClientCertProblem explains a server that refused mutual TLS: it got
// no client certificate, or one it does not trust. Clients whose
// server just hangs up after the handshake (TLS 1.3) call it directly.
func ClientCertProblem(who, addr string, tc *tls.Config, err error) error {
	if tc == nil || len(tc.Certificates) == 0 {
		return fmt.Errorf("TLS failure: %s %s wants a client certificate and got none (%w); set tls.cert_file and tls.key_file", who, addr, err)
	}
	return fmt.Errorf("TLS failure: %s %s refused flowrun's client certificate (%w); tls.cert_file must be signed by a CA the %s trusts", who, addr, err, who)
}

// certProblem explains what is wrong with the server's side: its
// certificate, or no TLS at all on the port.
func certProblem(who, addr, name string, err error) error {
	var unknown x509.UnknownAuthorityError
	var hostname x509.HostnameError
	var invalid x509.CertificateInvalidError
	var header tls.RecordHeaderError
	switch {
	case errors.As(err, &unknown):
		return fmt.Errorf("TLS failure: %s %s has a certificate signed by an authority flowrun does not trust (%w); set tls.ca_file to the PEM of the CA that signed it", who, addr, err)
	case errors.As(err, &hostname):
		return fmt.Errorf("TLS failure: %s %s has a certificate that is not valid for %q (%w); connect by a name it holds or set tls.server_name", who, addr, name, err)
	case errors.As(err, &invalid) && invalid.Reason == x509.Expired:
		return fmt.Errorf("TLS failure: %s %s has a certificate that is expired or not yet valid (%w); the %s needs a renewed certificate (or check this machine's clock)", who, addr, err, who)
	case errors.As(err, &header), errors.Is(err, os.ErrDeadlineExceeded):
		return fmt.Errorf("TLS failure: %s %s does not speak TLS on this port (%w); remove tls or use the %s's TLS listener", who, addr, err, who)
	}
	return nil
}

// clientCertRefused reports the alerts a server sends when mutual TLS
// fails. crypto/tls keeps the received alert's type unexported, so its
// text is all there is to match.
func clientCertRefused(err error) bool {
	s := err.Error()
	for _, alert := range []string{"tls: certificate required", "tls: bad certificate", "tls: unknown certificate authority", "tls: unknown certificate", "tls: expired certificate"} {
		if strings.Contains(s, "remote error: "+alert) {
			return true
		}
	}
	return false
}
