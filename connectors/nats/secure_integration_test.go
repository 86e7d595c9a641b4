//go:build integration

package nats

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/connectors/internal/testcert"
	"github.com/flowrun/flowrun/internal/poll"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// The whole connector suite against a server that requires mutual TLS
// and an NKey user.
func TestSecuredConformance(t *testing.T) {
	s := startSecured(t)
	h := harness()
	h.Topic = func(t *testing.T) (map[string]any, map[string]any) {
		name := "sec_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
		sec := func(m map[string]any) map[string]any {
			m["url"], m["tls"], m["nkey_seed_file"] = "nats://"+s.users, s.tlsConf(), s.seedFile
			return m
		}
		return sec(map[string]any{"stream": name, "subject": name + ".in", "durable": "d_" + name,
				"ack_wait": 2 * time.Second, "redelivery_delay": 50 * time.Millisecond}),
			sec(map[string]any{"stream": name, "subject": name + ".in"})
	}
	conformance.Run(t, h)
}

// Token and operator-mode (.creds) users write and read over mutual TLS.
func TestSecuredTokenAndCredsRoundTrip(t *testing.T) {
	s := startSecured(t)
	for name, auth := range map[string]map[string]any{
		"token":       {"url": "nats://" + s.token, "token": s.tokenValue},
		"credentials": {"url": "nats://" + s.operator, "credentials": s.credsFile},
	} {
		t.Run(name, func(t *testing.T) {
			auth["tls"] = s.tlsConf()
			roundTrip(t, auth, 20)
		})
	}
}

// roundTrip writes n messages with the sink and reads them back, exact.
func roundTrip(t *testing.T, auth map[string]any, n int) {
	t.Helper()
	spec, _ := registry.LookupConnector("nats")
	name := "rt_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
	with := func(m map[string]any) map[string]any {
		for k, v := range auth {
			m[k] = v
		}
		return m
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	snk, err := spec.Sink(ctx, conformance.Config(t, spec.SinkFields, with(map[string]any{"stream": name, "subject": name + ".in"})), conformance.Env(t, "sink", 0))
	if err != nil {
		t.Fatal(err)
	}
	defer snk.Close()
	var msgs []*message.Message
	for i := range n {
		msgs = append(msgs, &message.Message{ID: fmt.Sprint("id-", i), Body: fmt.Appendf(nil, `{"n":%d}`, i), Key: "k"})
	}
	if err := snk.Write(ctx, msgs); err != nil {
		t.Fatalf("write: %v", err)
	}
	src, err := spec.Source(ctx, conformance.Config(t, spec.SourceFields, with(map[string]any{"stream": name})), conformance.Env(t, "source", n))
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	var got []string
	buf := make([]*message.Message, n)
	for len(got) < n {
		k, err := src.Read(ctx, buf)
		if err != nil {
			t.Fatalf("read after %d: %v", len(got), err)
		}
		for _, m := range buf[:k] {
			got = append(got, m.ID+" "+string(m.Raw))
			src.Ack(m)
		}
	}
	for i, g := range got {
		if want := fmt.Sprintf(`id-%d {"n":%d}`, i, i); g != want {
			t.Fatalf("message %d = %q, want %q", i, g, want)
		}
	}
}

// validate --connect names what is wrong, each mistake in its own words,
// and never prints a password or token.
func TestSecuredCheck(t *testing.T) {
	s := startSecured(t)
	other := testcert.New(t, testcert.Options{})
	spec, _ := registry.LookupConnector("nats")
	good := s.tlsConf()
	tlsWith := func(k, v string) map[string]any {
		m := s.tlsConf()
		m[k] = v
		return m
	}
	noCert := map[string]any{"ca_file": s.certs.CA}
	otherCert := map[string]any{"ca_file": s.certs.CA, "cert_file": other.ClientCert, "key_file": other.ClientKey}
	plain := startNATS(t, "") // without TLS or auth
	cases := []struct {
		name string
		cfg  map[string]any
		want string // "" = no error
	}{
		{"user and password", map[string]any{"url": s.users, "tls": good, "user": "alice", "password": alicePassword}, ""},
		{"nkey", map[string]any{"url": s.users, "tls": good, "nkey_seed_file": s.seedFile}, ""},
		{"token", map[string]any{"url": s.token, "tls": good, "token": s.tokenValue}, ""},
		{"credentials", map[string]any{"url": s.operator, "tls": good, "credentials": s.credsFile}, ""},
		{"wrong password", map[string]any{"url": s.users, "tls": good, "user": "alice", "password": "wrong-secret"},
			`authentication failure: NATS server ` + s.users + ` refused user "alice" and its password (nats: Authorization Violation); check the credentials`},
		{"no credentials", map[string]any{"url": s.users, "tls": good},
			"authentication failure: NATS server " + s.users + " refused a connection without credentials (nats: Authorization Violation); the server wants credentials"},
		{"wrong token", map[string]any{"url": s.token, "tls": good, "token": "wrong-secret"},
			"authentication failure: NATS server " + s.token + " refused the token"},
		{"credentials of an unknown account", map[string]any{"url": s.operator, "tls": good, "credentials": s.strangerCreds},
			"authentication failure: NATS server " + s.operator + " refused the user JWT of " + s.strangerCreds},
		{"wrong CA", map[string]any{"url": s.users, "tls": tlsWith("ca_file", other.CA), "user": "alice", "password": alicePassword},
			"TLS failure: NATS server " + s.users + " has a certificate signed by an authority flowrun does not trust"},
		{"system roots", map[string]any{"url": s.users, "tls": map[string]any{}, "user": "alice", "password": alicePassword},
			"TLS failure: NATS server " + s.users + " has a certificate signed by an authority flowrun does not trust"},
		{"no tls block: the server's TLS is still checked", map[string]any{"url": s.users, "user": "alice", "password": alicePassword},
			"TLS failure: NATS server " + s.users + " has a certificate signed by an authority flowrun does not trust"},
		{"name mismatch", map[string]any{"url": s.users, "tls": tlsWith("server_name", "nats.example.com"), "user": "alice", "password": alicePassword},
			`TLS failure: NATS server ` + s.users + ` has a certificate that is not valid for "nats.example.com"`},
		{"no client certificate", map[string]any{"url": s.users, "tls": noCert, "user": "alice", "password": alicePassword},
			"TLS failure: NATS server " + s.users + " wants a client certificate and got none"},
		{"client certificate of another CA", map[string]any{"url": s.users, "tls": otherCert, "user": "alice", "password": alicePassword},
			"TLS failure: NATS server " + s.users + " refused flowrun's client certificate"},
		{"TLS to a server without it", map[string]any{"url": plain, "tls": good},
			"TLS failure: NATS server " + plain + " does not offer TLS"},
		{"no JetStream permission", map[string]any{"url": s.users, "tls": good, "user": "nojs", "password": alicePassword},
			`authorization failure: user "nojs" may not use JetStream's API (nats: permissions violation: Permissions Violation for Publish to "$JS.API.INFO")`},
		{"server down", map[string]any{"url": "nats://127.0.0.1:1", "tls": good},
			"cannot connect to NATS server 127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused; is nats-server running there"},
		{"cannot resolve", map[string]any{"url": "nats://no-such-host.invalid:4222", "tls": good},
			`cannot resolve "no-such-host.invalid"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.cfg["subject"], c.cfg["connect_timeout"] = "sec.check", 5*time.Second
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := spec.Check(ctx, conformance.Config(t, spec.SinkFields, c.cfg), conformance.Env(t, "sink", 0))
			switch {
			case c.want == "" && err != nil && !strings.Contains(err.Error(), "captures subject"):
				t.Fatalf("check: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("check = %v\nwant it to say %q", err, c.want)
			case err != nil && (strings.Contains(err.Error(), alicePassword) || strings.Contains(err.Error(), s.tokenValue) || strings.Contains(err.Error(), "wrong-secret")):
				t.Fatalf("check printed a secret: %v", err)
			}
		})
	}
}

// A real flowrun process reads from one secured server and writes to
// another, its password and token read from files (${file:PATH}).
func TestSecuredFlow(t *testing.T) {
	s := startSecured(t)
	const n = 200
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	tlsOpts := []nats.Option{nats.RootCAs(s.certs.CA), nats.ClientCert(s.certs.ClientCert, s.certs.ClientKey)}
	in := client(t, s.users, append(tlsOpts, nats.UserInfo("alice", alicePassword))...)
	out := client(t, s.token, append(tlsOpts, nats.Token(s.tokenValue))...)
	if _, err := in.CreateStream(ctx, jetstream.StreamConfig{Name: "IN", Subjects: []string{"in.>"}}); err != nil {
		t.Fatal(err)
	}
	for i := range n {
		if _, err := in.Publish(ctx, "in.orders", fmt.Appendf(nil, `{"n":%d}`, i)); err != nil {
			t.Fatal(err)
		}
	}
	tlsYAML := fmt.Sprintf(`{ca_file: %q, cert_file: %q, key_file: %q}`, s.certs.CA, s.certs.ClientCert, s.certs.ClientKey)
	path := filepath.Join(t.TempDir(), "flow.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`version: 1
name: nats-secured
source:
  nats: {url: "nats://%[1]s", stream: IN, user: alice, password: "${file:%[2]s}", tls: %[3]s}
stages:
  - set: {double: payload.n * 2}
sink:
  nats: {url: "nats://%[4]s", stream: OUT, subject: out.orders, token: "${file:%[5]s}", tls: %[3]s}
dead_letter:
  nats: {url: "nats://%[4]s", stream: DLQ, subject: dlq.orders, token: "${file:%[5]s}", tls: %[3]s}
`, s.users, s.passwordFile, tlsYAML, s.token, s.tokenFile)), 0o600); err != nil {
		t.Fatal(err)
	}
	flow := conformance.StartFlow(t, path)
	var st jetstream.Stream
	poll.Until(t, "every message in OUT", 60*time.Second, func() bool { // the flow creates OUT as it starts
		flow.Running()
		var err error
		st, err = out.Stream(ctx, "OUT")
		return err == nil && st.CachedInfo().State.Msgs == n
	})
	flow.Stop()
	cons, err := st.OrderedConsumer(ctx, jetstream.OrderedConsumerConfig{})
	if err != nil {
		t.Fatal(err)
	}
	batch, err := cons.FetchNoWait(n + 1)
	if err != nil {
		t.Fatal(err)
	}
	seen := make([]int, n) // concurrency 2: the order may change, the messages may not
	for m := range batch.Messages() {
		var v struct{ N, Double int }
		if err := json.Unmarshal(m.Data(), &v); err != nil || v.N < 0 || v.N >= n || string(m.Data()) != fmt.Sprintf(`{"n":%d,"double":%d}`, v.N, 2*v.N) {
			t.Fatalf("OUT holds %s (%v)", m.Data(), err)
		}
		seen[v.N]++
	}
	for i, c := range seen {
		if c != 1 {
			t.Errorf("message %d is in OUT %d times, want once", i, c)
		}
	}
}

func client(t *testing.T, addr string, opts ...nats.Option) jetstream.JetStream {
	nc, err := nats.Connect("nats://"+addr, opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	return js
}
