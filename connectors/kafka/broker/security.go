package broker

import (
	"crypto/tls"
	"fmt"
	"strings"

	"github.com/twmb/franz-go/pkg/kfake"
)

// User is a SASL user of the broker.
type User struct {
	Mechanism string // PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512
	Name      string
	Password  string
}

// Mechanisms are the SASL mechanisms the broker serves.
var Mechanisms = []string{"PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"}

// ParseUser reads MECHANISM:USER:PASSWORD (the password may hold colons).
func ParseUser(s string) (User, error) {
	parts := strings.SplitN(s, ":", 3)
	if len(parts) != 3 || parts[1] == "" || parts[2] == "" {
		return User{}, fmt.Errorf("--sasl %q: write it as MECHANISM:USER:PASSWORD, e.g. SCRAM-SHA-256:alice:secret", redactUser(s))
	}
	u := User{Mechanism: strings.ToUpper(parts[0]), Name: parts[1], Password: parts[2]}
	for _, m := range Mechanisms {
		if u.Mechanism == m {
			return u, nil
		}
	}
	return User{}, fmt.Errorf("--sasl: mechanism %q is not one of %s", parts[0], strings.Join(Mechanisms, ", "))
}

// redactUser hides the password part of a --sasl value (all of a value
// whose parts are unclear).
func redactUser(s string) string {
	if parts := strings.SplitN(s, ":", 3); len(parts) == 3 {
		return parts[0] + ":" + parts[1] + ":[redacted]"
	}
	return "[redacted]"
}

// securityOpts are kfake's options for TLS and SASL.
func securityOpts(opts Options) ([]kfake.Opt, error) {
	var kopts []kfake.Opt
	switch {
	case opts.TLSCert != "" && opts.TLSKey != "":
		pair, err := tls.LoadX509KeyPair(opts.TLSCert, opts.TLSKey)
		if err != nil {
			return nil, fmt.Errorf("broker TLS certificate: %w", err)
		}
		kopts = append(kopts, kfake.TLS(&tls.Config{Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}))
	case opts.TLSCert != "" || opts.TLSKey != "":
		return nil, fmt.Errorf("broker TLS needs both a certificate and its key (--tls-cert and --tls-key)")
	}
	if len(opts.Users) > 0 {
		kopts = append(kopts, kfake.EnableSASL())
		for _, u := range opts.Users {
			// Superusers: the broker enforces no ACLs for them.
			kopts = append(kopts, kfake.Superuser(u.Mechanism, u.Name, u.Password))
		}
	}
	return kopts, nil
}
