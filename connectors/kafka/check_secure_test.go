package kafka

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/connectors/internal/testcert"
	"github.com/flowrun/flowrun/connectors/kafka/broker"
	"github.com/flowrun/flowrun/registry"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func startTLSBroker(t *testing.T, certs testcert.Files, users ...broker.User) string {
	t.Helper()
	c, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", TLSCert: certs.Cert, TLSKey: certs.Key, Users: users})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return c.Addr()
}

// validate --connect names the step that failed: each wrong setting
// gets its own error, in words that say what to change.
func TestCheckSecuredBroker(t *testing.T) {
	certs := testcert.New(t, testcert.Options{})
	other := testcert.New(t, testcert.Options{})
	expired := testcert.New(t, testcert.Options{Expired: true})
	alice := broker.User{Mechanism: "SCRAM-SHA-256", Name: "alice", Password: "right-password"}
	addr := startTLSBroker(t, certs, alice)
	expiredAddr := startTLSBroker(t, expired, alice)
	plain, err := broker.Start(broker.Options{Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(plain.Close)

	sasl := func(mech, user, pw string) registry.Config {
		return registry.Config{"mechanism": mech, "user": user, "password": pw}
	}
	tlsWith := func(ca string, more ...string) registry.Config {
		c := registry.Config{"ca_file": ca, "insecure_skip_verify": false}
		if len(more) == 2 {
			c[more[0]] = more[1]
		}
		return c
	}
	good := sasl("SCRAM-SHA-256", "alice", "right-password")
	cases := []struct {
		name, addr string
		tls, sasl  registry.Config
		want       string // "" = no error
	}{
		{"right CA and password", addr, tlsWith(certs.CA), good, ""},
		{"wrong password", addr, tlsWith(certs.CA), sasl("SCRAM-SHA-256", "alice", "wrong"),
			`authentication failure: broker ` + addr + ` closed the connection while authenticating user "alice" with SASL SCRAM-SHA-256`},
		{"unknown user", addr, tlsWith(certs.CA), sasl("SCRAM-SHA-256", "mallory", "right-password"),
			`authentication failure: broker ` + addr + ` closed the connection while authenticating user "mallory"`},
		{"mechanism not enabled", addr, tlsWith(certs.CA), sasl("SCRAM-SHA-512", "alice", "right-password"),
			"authentication failure: broker " + addr},
		{"wrong CA", addr, tlsWith(other.CA), good,
			"TLS failure: broker " + addr + " has a certificate signed by an authority flowrun does not trust"},
		{"system roots", addr, registry.Config{}, good,
			"TLS failure: broker " + addr + " has a certificate signed by an authority flowrun does not trust"},
		{"name mismatch", addr, tlsWith(certs.CA, "server_name", "kafka.example.com"), good,
			`TLS failure: broker ` + addr + ` has a certificate that is not valid for "kafka.example.com"`},
		{"expired", expiredAddr, tlsWith(expired.CA), good,
			"TLS failure: broker " + expiredAddr + " has a certificate that is expired or not yet valid"},
		{"TLS to a plaintext port", plain.Addr(), tlsWith(certs.CA), nil,
			"TLS failure: broker " + plain.Addr() + " does not speak TLS on this port"},
		{"cannot resolve", "no-such-host.invalid:9093", tlsWith(certs.CA), good,
			`cannot resolve "no-such-host.invalid"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			values := map[string]any{"brokers": []any{tc.addr}, "topic": "t"}
			if tc.tls != nil {
				values["tls"] = tc.tls
			}
			if tc.sasl != nil {
				values["sasl"] = tc.sasl
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := check(ctx, config(sinkFields, values), registry.Env{Flow: "f", Role: "sink", Logger: testLogger()})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("check: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("check = %v\nwant it to say %q", err, tc.want)
			}
		})
	}
}

// Kafka itself answers a failed authentication with an error code (the
// in-process broker closes the connection): each gets its own words.
func TestSASLProblemFromKafkaErrors(t *testing.T) {
	sc := sarama.NewConfig()
	sc.Net.SASL.Enable, sc.Net.SASL.Mechanism, sc.Net.SASL.User = true, sarama.SASLTypeSCRAMSHA512, "alice"
	cases := map[error]string{
		sarama.ErrSASLAuthenticationFailed: `authentication failure: broker b:9093 refused user "alice" and its password with SASL SCRAM-SHA-512`,
		sarama.ErrUnsupportedSASLMechanism: "authentication failure: broker b:9093 does not enable SASL mechanism SCRAM-SHA-512",
	}
	for err, want := range cases {
		if got := saslProblem("b:9093", sc, fmt.Errorf("wrapped: %w", err)).Error(); !strings.HasPrefix(got, want) {
			t.Errorf("saslProblem(%v) = %q, want it to start %q", err, got, want)
		}
	}
}

// With ACLs, a topic or consumer group the user may not use is an
// authorization failure, not a missing topic.
func TestCheckAuthorization(t *testing.T) {
	certs := testcert.New(t, testcert.Options{})
	allow := func(rt kmsg.ACLResourceType, name string) kfake.ACL {
		return kfake.ACL{Resource: rt, Name: name, Pattern: kmsg.ACLResourcePatternTypeLiteral, Operation: kmsg.ACLOperationAll, Allow: true}
	}
	c, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", TLSCert: certs.Cert, TLSKey: certs.Key},
		kfake.EnableSASL(), kfake.EnableACLs(), kfake.SeedTopics(1, "allowed", "private"),
		kfake.Superuser("SCRAM-SHA-256", "admin", "admin-pw"),
		kfake.User("SCRAM-SHA-256", "carol", "carol-pw", allow(kmsg.ACLResourceTypeTopic, "allowed"), allow(kmsg.ACLResourceTypeGroup, "g-ok")))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	sec := map[string]any{"tls": registry.Config{"ca_file": certs.CA, "insecure_skip_verify": false},
		"sasl": registry.Config{"mechanism": "SCRAM-SHA-256", "user": "carol", "password": "carol-pw"}}
	cases := []struct {
		name, role, topic, group, want string
	}{
		{"sink on an allowed topic", "sink", "allowed", "", ""},
		{"sink on a private topic", "sink", "private", "",
			`authorization failure: user "carol" may not use topic "private"`},
		{"source with an allowed group", "source", "allowed", "g-ok", ""},
		{"source with a private group", "source", "allowed", "g-no",
			`authorization failure: user "carol" may not use consumer group "g-no"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var cfg registry.Config
			if tc.role == "source" {
				cfg = sourceConfigFor(c.Addr(), tc.topic, tc.group, sec)
			} else {
				cfg = config(sinkFields, map[string]any{"brokers": []any{c.Addr()}, "topic": tc.topic, "tls": sec["tls"], "sasl": sec["sasl"]})
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := check(ctx, cfg, registry.Env{Flow: "f", Role: tc.role, Logger: testLogger()})
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("check: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("check = %v\nwant it to say %q", err, tc.want)
			}
		})
	}
}

// A source that cannot connect says why, not only "out of brokers".
func TestSourceSaysWhyItCannotConnect(t *testing.T) {
	certs := testcert.New(t, testcert.Options{})
	other := testcert.New(t, testcert.Options{})
	addr := startTLSBroker(t, certs, broker.User{Mechanism: "SCRAM-SHA-256", Name: "alice", Password: "pw"})
	cases := map[string]struct {
		ca, pw, want string
	}{
		"wrong CA":       {other.CA, "pw", "TLS failure: broker " + addr + " has a certificate signed by an authority flowrun does not trust"},
		"wrong password": {certs.CA, "nope", `authentication failure: broker ` + addr + ` closed the connection while authenticating user "alice"`},
	}
	for name, tc := range cases {
		t.Run(name, func(t *testing.T) {
			cfg := sourceConfigFor(addr, "t", "g", map[string]any{
				"tls":  registry.Config{"ca_file": tc.ca, "insecure_skip_verify": false},
				"sasl": registry.Config{"mechanism": "SCRAM-SHA-256", "user": "alice", "password": tc.pw}})
			s, err := newSource(context.Background(), cfg, registry.Env{Flow: "f", Role: "source", Logger: testLogger(), MaxInFlight: 10})
			if err == nil {
				s.Close()
				t.Fatal("the source started")
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "nope") {
				t.Fatalf("newSource: %v\nwant it to say %q", err, tc.want)
			}
		})
	}
}
