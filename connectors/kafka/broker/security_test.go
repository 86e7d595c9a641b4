package broker

import (
	"strings"
	"testing"
)

func TestParseUser(t *testing.T) {
	u, err := ParseUser("scram-sha-256:alice:pa:ss")
	if err != nil || u != (User{Mechanism: "SCRAM-SHA-256", Name: "alice", Password: "pa:ss"}) {
		t.Fatalf("ParseUser = %+v, %v", u, err)
	}
	for in, want := range map[string]string{
		"alice:secret-pw":          `--sasl "[redacted]": write it as MECHANISM:USER:PASSWORD`,
		"GSSAPI:alice:secret-pw":   `--sasl: mechanism "GSSAPI" is not one of PLAIN, SCRAM-SHA-256, SCRAM-SHA-512`,
		"SCRAM-SHA-256::secret-pw": `--sasl "SCRAM-SHA-256::[redacted]": write it as`,
		"SCRAM-SHA-256:alice:":     `--sasl "SCRAM-SHA-256:alice:[redacted]": write it as`,
	} {
		_, err := ParseUser(in)
		if err == nil || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("ParseUser(%q) = %v, want %q", in, err, want)
		}
		if err != nil && strings.Contains(err.Error(), "secret-pw") {
			t.Errorf("ParseUser(%q) printed the password: %v", in, err)
		}
	}
	if _, err := Start(Options{Addr: "127.0.0.1:0", TLSCert: "cert.pem"}); err == nil || !strings.Contains(err.Error(), "--tls-cert and --tls-key") {
		t.Fatalf("a certificate without its key: %v", err)
	}
}
