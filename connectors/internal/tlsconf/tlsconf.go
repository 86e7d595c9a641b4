// Package tlsconf is the `tls:` block every connector that reaches a
// server over the network shares: its fields, the crypto/tls
// configuration they make, and the words a failed handshake is
// explained in, so Kafka, NATS and Redis read and report TLS alike.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"

	"github.com/flowrun/flowrun/registry"
)

// Field is the `tls` object; server names the peer in its docs
// ("broker", "server").
func Field(server string) registry.Field {
	return registry.Field{Name: "tls", Type: registry.Object,
		Doc: "connect over TLS; `tls: {}` trusts the system's certificate authorities",
		Fields: []registry.Field{
			{Name: "ca_file", Type: registry.String, Doc: "PEM file of the certificate authorities that signed the " + server + "'s certificate (default: the system's)"},
			{Name: "cert_file", Type: registry.String, Doc: "PEM client certificate, for a " + server + " that requires mutual TLS (with key_file)"},
			{Name: "key_file", Type: registry.String, Doc: "PEM private key of cert_file"},
			{Name: "server_name", Type: registry.String, Doc: "name the " + server + "'s certificate must hold (default: the host of the " + server + " address)"},
			{Name: "insecure_skip_verify", Type: registry.Bool, Default: false,
				Warning: "tls.insecure_skip_verify accepts any certificate, so anyone between flowrun and the " + server + " can read and change the data and take the credentials; set ca_file instead",
				Doc:     "accept any " + server + " certificate (testing only: validate warns)"},
		},
	}
}

// FromConfig is the TLS configuration of a connector's tls object, nil
// when the connector has none (plaintext).
func FromConfig(cfg registry.Config) (*tls.Config, error) {
	t := cfg.Object("tls")
	if t == nil {
		return nil, nil
	}
	return Config(t)
}

// Config reads the files the tls object names. Errors point at the
// field to change.
func Config(t registry.Config) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.String("server_name"),
		InsecureSkipVerify: t.Bool("insecure_skip_verify")} // #nosec G402 -- opt-in, validate warns
	if path := t.String("ca_file"); path != "" {
		pem, err := os.ReadFile(path)
		if err != nil {
			return nil, registry.At(fmt.Errorf("tls.ca_file: %w", err), "tls", "ca_file")
		}
		tc.RootCAs = x509.NewCertPool()
		if !tc.RootCAs.AppendCertsFromPEM(pem) {
			return nil, registry.At(fmt.Errorf("tls.ca_file: %s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path), "tls", "ca_file")
		}
	}
	cert, key := t.String("cert_file"), t.String("key_file")
	switch {
	case cert != "" && key != "":
		pair, err := tls.LoadX509KeyPair(cert, key)
		if err != nil {
			return nil, registry.At(fmt.Errorf("tls client certificate: %w", err), "tls", "cert_file")
		}
		tc.Certificates = []tls.Certificate{pair}
	case cert != "":
		return nil, registry.At(fmt.Errorf("tls.cert_file needs key_file, the certificate's private key"), "tls", "key_file")
	case key != "":
		return nil, registry.At(fmt.Errorf("tls.key_file needs cert_file, the client certificate"), "tls", "cert_file")
	}
	return tc, nil
}
