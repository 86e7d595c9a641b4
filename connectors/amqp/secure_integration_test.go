//go:build integration

package amqp

import (
	"context"
	"net"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/connectors/internal/testcert"
	"github.com/flowrun/flowrun/connectors/internal/tlsconf"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	amqp "github.com/rabbitmq/amqp091-go"
)

// secured adds to a connector's values what reaching RabbitMQ through
// the TLS proxy takes: the amqps:// url, the certificates, the login.
func secured(p *tlsProxy, m map[string]any) map[string]any {
	m["url"], m["tls"], m["user"], m["password"] = p.url(), p.tls(), "guest", "guest"
	return m
}

// The connector reads and writes over TLS with a client certificate
// and a password: the whole conformance suite through a proxy that
// accepts nothing else.
func TestConformanceOverTLS(t *testing.T) {
	p := startTLSProxy(t, testcert.New(t, testcert.Options{}))
	h := harness()
	topic, refuse := h.Topic, h.Refuse
	h.Topic = func(t *testing.T) (map[string]any, map[string]any) {
		src, snk := topic(t)
		return secured(p, src), secured(p, snk)
	}
	h.Refuse = func(t *testing.T, src, snk map[string]any) (map[string]any, func(*message.Message)) {
		cfg, change := refuse(t, src, snk)
		return secured(p, cfg), change
	}
	conformance.Run(t, h)
}

// validate --connect says which step failed, each in its own words,
// and never shows the password.
func TestCheckOverTLS(t *testing.T) {
	certs := testcert.New(t, testcert.Options{})
	other := testcert.New(t, testcert.Options{})
	p := startTLSProxy(t, certs)
	old := startTLSProxy(t, testcert.New(t, testcert.Options{Expired: true}))
	tlsOf := func(ca string, more ...string) map[string]any {
		m := map[string]any{"ca_file": ca, "cert_file": certs.ClientCert, "key_file": certs.ClientKey}
		for i := 0; i+1 < len(more); i += 2 {
			m[more[i]] = more[i+1]
		}
		return m
	}
	localhost := strings.Replace(p.url(), "127.0.0.1", "localhost", 1)
	_, port, _ := net.SplitHostPort(p.addr)
	cases := []struct {
		name string
		raw  map[string]any
		want string // "" = no error
	}{
		{"right CA, certificate and password", map[string]any{"url": p.url(), "tls": p.tls(), "user": "guest", "password": "guest"}, ""},
		{"credentials in the url", map[string]any{"url": "amqps://guest:guest@" + p.addr + "/", "tls": p.tls()}, ""},
		{"server_name", map[string]any{"url": p.url(), "tls": tlsOf(certs.CA, "server_name", "localhost"), "user": "guest", "password": "guest"}, ""},
		{"wrong password", map[string]any{"url": p.url(), "tls": p.tls(), "user": "guest", "password": "wrong-pw"},
			`authentication failure: RabbitMQ server ` + p.addr + ` refused user "guest" and its password`},
		{"wrong CA", map[string]any{"url": p.url(), "tls": tlsOf(other.CA), "user": "guest", "password": "guest"},
			"TLS failure: RabbitMQ server " + p.addr + " has a certificate signed by an authority flowrun does not trust"},
		{"system roots", map[string]any{"url": "amqps://guest:guest@" + p.addr + "/"},
			"TLS failure: RabbitMQ server " + p.addr + " has a certificate signed by an authority flowrun does not trust"},
		{"name mismatch", map[string]any{"url": p.url(), "tls": tlsOf(certs.CA, "server_name", "rabbit.example.com"), "user": "guest", "password": "guest"},
			`TLS failure: RabbitMQ server ` + p.addr + ` has a certificate that is not valid for "rabbit.example.com"`},
		{"expired", map[string]any{"url": old.url(), "tls": old.tls(), "user": "guest", "password": "guest"},
			"TLS failure: RabbitMQ server " + old.addr + " has a certificate that is expired or not yet valid"},
		{"no client certificate", map[string]any{"url": localhost, "tls": map[string]any{"ca_file": certs.CA}, "user": "guest", "password": "guest"},
			"TLS failure: RabbitMQ server localhost:" + port + " wants a client certificate and got none"},
		{"client certificate of another CA", map[string]any{"url": p.url(), "user": "guest", "password": "guest",
			"tls": map[string]any{"ca_file": certs.CA, "cert_file": other.ClientCert, "key_file": other.ClientKey}},
			"TLS failure: RabbitMQ server " + p.addr + " refused flowrun's client certificate"},
		{"unknown vhost", map[string]any{"url": p.url() + "no-such-vhost", "tls": p.tls(), "user": "guest", "password": "guest"},
			`authorization failure: user "guest" may not use vhost "no-such-vhost" on RabbitMQ server ` + p.addr + `, or it does not exist`},
		{"plaintext to the TLS port", map[string]any{"url": "amqp://guest:guest@" + p.addr + "/"},
			"RabbitMQ server " + p.addr + " closed the connection before the AMQP handshake"},
		{"TLS to the plaintext port", map[string]any{"url": "amqps://guest:guest@127.0.0.1:5672/", "tls": p.tls()},
			"TLS failure: RabbitMQ server 127.0.0.1:5672 does not speak TLS on this port"},
		{"cannot resolve", map[string]any{"url": "amqps://guest:guest@no-such-host.invalid/", "tls": p.tls()},
			`cannot resolve "no-such-host.invalid" (RabbitMQ server no-such-host.invalid:5671)`},
		{"cannot connect", map[string]any{"url": "amqps://guest:guest@127.0.0.1:1/", "tls": p.tls()},
			"cannot reach RabbitMQ at amqps://guest:xxxxx@127.0.0.1:1/"},
		{"tls on an amqp:// url", map[string]any{"url": "amqp://127.0.0.1:5672/", "tls": p.tls()},
			"tls is set but the url is amqp://, which is plaintext; use amqps://"},
	}
	spec, _ := registry.LookupConnector("amqp")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			tc.raw["queue"] = "q"
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := spec.Check(ctx, conformance.Config(t, spec.SourceFields, tc.raw), conformance.Env(t, "source", 0))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("check: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("check = %v\nwant it to say %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), "wrong-pw"):
				t.Fatalf("the password shows: %v", err)
			}
		})
	}
}

// Under TLS 1.3 the server's refusal of the client certificate may
// reach amqp091 only as "closed": the cause is then found by a
// handshake of flowrun's own.
func TestClosedWhileOpeningFindsTheTLSCause(t *testing.T) {
	certs := testcert.New(t, testcert.Options{})
	p := startTLSProxy(t, certs)
	u, _ := url.Parse(p.url())
	tc, err := tlsconf.Config(registry.Config{"ca_file": certs.CA})
	if err != nil {
		t.Fatal(err)
	}
	err = explain(u, tc, amqp.ErrClosed)
	if want := "TLS failure: RabbitMQ server " + p.addr + " wants a client certificate and got none"; !strings.Contains(err.Error(), want) {
		t.Fatalf("explain = %v\nwant it to say %q", err, want)
	}
	withCert, err := tlsconf.Config(registry.Config{"ca_file": certs.CA, "cert_file": certs.ClientCert, "key_file": certs.ClientKey})
	if err != nil {
		t.Fatal(err)
	}
	if err := explain(u, withCert, amqp.ErrClosed); strings.Contains(err.Error(), "TLS failure") {
		t.Fatalf("a handshake that works was blamed: %v", err)
	}
}
