package amqp

import (
	"errors"
	"net/url"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/connectors/internal/testcert"
	"github.com/flowrun/flowrun/registry"
	amqp "github.com/rabbitmq/amqp091-go"
)

// tls goes with amqps://; on a plaintext url it would be ignored, so
// validate refuses it and says what to write.
func TestTLSNeedsAnAMQPSURL(t *testing.T) {
	spec, _ := registry.LookupConnector("amqp")
	certs := testcert.New(t, testcert.Options{})
	cfg := func(raw map[string]any) registry.Config {
		raw["queue"] = "q"
		return conformance.Config(t, spec.SinkFields, raw)
	}
	err := spec.ValidateSink(cfg(map[string]any{"url": "amqp://h/", "tls": map[string]any{"ca_file": certs.CA}}))
	var at *registry.PathError
	if err == nil || !errors.As(err, &at) || at.Path[0] != "tls" || !strings.Contains(err.Error(), "use amqps://") {
		t.Fatalf("ValidateSink = %v, want an error at tls asking for amqps://", err)
	}
	for raw, wantTLS := range map[string]bool{"amqp://h/": false, "amqps://h/": true} {
		c := cfg(map[string]any{"url": raw})
		if err := spec.ValidateSink(c); err != nil {
			t.Fatalf("%s: %v", raw, err)
		}
		u, _ := url.Parse(raw)
		tc, err := tlsFor(c, u)
		if err != nil || (tc != nil) != wantTLS {
			t.Errorf("%s: tls config %v, %v; want TLS %v", raw, tc, err, wantTLS)
		}
	}
	u, _ := url.Parse("amqps://h/")
	tc, err := tlsFor(cfg(map[string]any{"url": "amqps://h/", "tls": map[string]any{"ca_file": certs.CA, "server_name": "rabbit"}}), u)
	if err != nil || tc.RootCAs == nil || tc.ServerName != "rabbit" {
		t.Fatalf("tlsFor = %+v, %v", tc, err)
	}
}

// A channel the server closes with ACCESS_REFUSED is an authorization
// failure, named with the user; other errors are not.
func TestRefusedIsAnAuthorizationFailure(t *testing.T) {
	u, _ := url.Parse("amqps://app:pw@h/")
	err := refused(`queue "jobs"`, u, &amqp.Error{Code: amqp.AccessRefused, Reason: "ACCESS_REFUSED - access to queue 'jobs' in vhost '/' refused for user 'app'"})
	if err == nil || !strings.HasPrefix(err.Error(), `authorization failure: user "app" may not use queue "jobs"`) {
		t.Fatalf("refused = %v", err)
	}
	if err := refused(`queue "jobs"`, u, &amqp.Error{Code: amqp.NotFound, Reason: "NOT_FOUND"}); err != nil {
		t.Fatalf("a missing queue became %v", err)
	}
}

// What amqp091 returns while opening gets the words of its step.
func TestOpeningFailuresAreExplained(t *testing.T) {
	u, _ := url.Parse("amqps://app:s3cret@rabbit:5671/orders")
	for err, want := range map[error]string{
		amqp.ErrCredentials: `authentication failure: RabbitMQ server rabbit:5671 refused user "app" and its password`,
		amqp.ErrSASL:        "authentication failure: RabbitMQ server rabbit:5671 offers no login mechanism flowrun has",
		amqp.ErrVhost:       `authorization failure: user "app" may not use vhost "orders" on RabbitMQ server rabbit:5671, or it does not exist`,
	} {
		got := explain(u, nil, err).Error()
		if !strings.HasPrefix(got, want) || strings.Contains(got, "s3cret") {
			t.Errorf("explain(%v) = %q\nwant it to start %q, without the password", err, got, want)
		}
	}
	plain, _ := url.Parse("amqp://app:s3cret@rabbit/")
	for _, err := range []error{amqp.ErrClosed, amqp.ErrCommandInvalid} {
		if got := explain(plain, nil, err).Error(); !strings.HasPrefix(got, "RabbitMQ server rabbit:5672 closed the connection before the AMQP handshake") {
			t.Errorf("%v on a plaintext url: %q", err, got)
		}
	}
}
