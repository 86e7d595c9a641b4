//go:build integration

package redis

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/connectors/internal/testcert"
	"github.com/flowrun/flowrun/internal/poll"
	"github.com/flowrun/flowrun/registry"
	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
)

// The whole connector suite against a server that requires mutual TLS
// and an ACL user.
func TestSecuredConformance(t *testing.T) {
	s := startSecuredRedis(t)
	h := harness()
	h.Topic = func(t *testing.T) (map[string]any, map[string]any) {
		stream := "sec-" + uuid.NewString()
		src, snk := s.alice(), s.alice()
		src["stream"], src["group"], src["claim_idle"] = stream, "g-"+stream, time.Second
		src["block"], src["redelivery_delay"] = 200*time.Millisecond, 50*time.Millisecond
		snk["stream"] = stream
		return src, snk
	}
	conformance.Run(t, h)
}

// validate --connect names what is wrong, each mistake in its own words,
// and never prints the password.
func TestSecuredCheck(t *testing.T) {
	s := startSecuredRedis(t)
	other := testcert.New(t, testcert.Options{})
	spec, _ := registry.LookupConnector("redis")
	with := func(k string, v any) map[string]any {
		m := s.alice()
		m[k] = v
		return m
	}
	tlsWith := func(k, v string) map[string]any {
		m := s.tlsConf()
		m[k] = v
		return m
	}
	without := func(k string) map[string]any {
		m := s.alice()
		delete(m, k)
		return m
	}
	narrow := with("username", "narrow")
	plain := startPlainRedis(t)
	cases := []struct {
		name, role, stream string
		cfg                map[string]any
		want               string // "" = no error
	}{
		{"alice over mutual TLS", "source", "s", s.alice(), ""},
		{"narrow on its keys", "source", "allowed-s", narrow, ""},
		{"rediss url", "sink", "s", with("url", "rediss://"+s.addr), ""},
		{"wrong password", "sink", "s", with("password", "wrong-secret"),
			`authentication failure: Redis server ` + s.addr + ` refused user "alice" and its password (WRONGPASS`},
		{"unknown user", "sink", "s", with("username", "mallory"),
			`authentication failure: Redis server ` + s.addr + ` refused user "mallory" and its password (WRONGPASS`},
		{"no credentials", "sink", "s", map[string]any{"url": "redis://" + s.addr, "tls": s.tlsConf()},
			"authentication failure: Redis server " + s.addr + " wants a password and got none (NOAUTH"},
		{"wrong CA", "sink", "s", with("tls", tlsWith("ca_file", other.CA)),
			"TLS failure: Redis server " + s.addr + " has a certificate signed by an authority flowrun does not trust"},
		{"rediss url with system roots", "sink", "s", with("url", "rediss://"+s.addr), ""},
		{"name mismatch", "sink", "s", with("tls", tlsWith("server_name", "redis.example.com")),
			`TLS failure: Redis server ` + s.addr + ` has a certificate that is not valid for "redis.example.com"`},
		{"no client certificate", "sink", "s", with("tls", map[string]any{"ca_file": s.certs.CA}),
			"TLS failure: Redis server " + s.addr + " wants a client certificate and got none"},
		{"client certificate of another CA", "sink", "s", with("tls", map[string]any{"ca_file": s.certs.CA, "cert_file": other.ClientCert, "key_file": other.ClientKey}),
			"TLS failure: Redis server " + s.addr + " refused flowrun's client certificate"},
		{"plaintext to the TLS port", "sink", "s", without("tls"),
			"the Redis server at " + s.addr + " closed the connection without answering"},
		{"TLS to a plaintext port", "sink", "s", map[string]any{"url": "redis://" + plain, "tls": s.tlsConf()},
			"TLS failure: Redis server " + plain + " does not speak TLS on this port"},
		{"server down", "sink", "s", with("url", "redis://127.0.0.1:1"),
			"cannot connect to Redis server 127.0.0.1:1: dial tcp 127.0.0.1:1: connect: connection refused"},
		{"cannot resolve", "sink", "s", with("url", "redis://no-such-host.invalid:6380"),
			`cannot resolve "no-such-host.invalid"`},
		{"a key outside the user's ACL", "source", "private", narrow,
			`authorization failure: Redis server ` + s.addr + ` does not let user "narrow" use key "private" (NOPERM`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.name == "rediss url with system roots" {
				c.cfg = map[string]any{"url": "rediss://" + s.addr, "username": "alice", "password": alicePassword}
				c.want = "TLS failure: Redis server " + s.addr + " has a certificate signed by an authority flowrun does not trust"
			}
			c.cfg["stream"] = c.stream
			fields := spec.SinkFields
			if c.role == "source" {
				fields = spec.SourceFields
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			err := spec.Check(ctx, conformance.Config(t, fields, c.cfg), conformance.Env(t, c.role, 0))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("check: %v", err)
			case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
				t.Fatalf("check = %v\nwant it to say %q", err, c.want)
			case err != nil && (strings.Contains(err.Error(), alicePassword) || strings.Contains(err.Error(), "wrong-secret")):
				t.Fatalf("check printed the password: %v", err)
			}
		})
	}
}

// A real flowrun process reads from and writes to the secured server,
// its password read from a file (${file:PATH}).
func TestSecuredFlow(t *testing.T) {
	s := startSecuredRedis(t)
	const n = 200
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := s.client(t)
	for i := range n {
		if err := c.XAdd(ctx, &goredis.XAddArgs{Stream: "in", Values: map[string]any{"payload": fmt.Sprintf(`{"n":%d}`, i)}}).Err(); err != nil {
			t.Fatal(err)
		}
	}
	sec := fmt.Sprintf(`url: "rediss://%s", username: alice, password: "${file:%s}", tls: {ca_file: %q, cert_file: %q, key_file: %q}`,
		s.addr, s.passwordFile, s.certs.CA, s.certs.ClientCert, s.certs.ClientKey)
	path := filepath.Join(t.TempDir(), "flow.yaml")
	if err := os.WriteFile(path, []byte(fmt.Sprintf(`version: 1
name: redis-secured
source:
  redis: {stream: in, %[1]s}
stages:
  - set: {double: payload.n * 2}
sink:
  redis: {stream: out, %[1]s}
dead_letter:
  redis: {stream: dlq, %[1]s}
`, sec)), 0o600); err != nil {
		t.Fatal(err)
	}
	flow := conformance.StartFlow(t, path)
	poll.Until(t, "every message in out", 60*time.Second, func() bool {
		flow.Running()
		got, err := c.XLen(ctx, "out").Result()
		return err == nil && got == n
	})
	flow.Stop()
	entries, err := c.XRange(ctx, "out", "-", "+").Result()
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for i, e := range entries {
		got = append(got, fmt.Sprint(e.Values["payload"]))
		want = append(want, fmt.Sprintf(`{"n":%d,"double":%d}`, i, 2*i))
	}
	sort.Strings(got) // concurrency 2: the order may change, the messages may not
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("out holds\n%v\nwant exactly\n%v", got, want)
	}
	if pending, err := c.XPending(ctx, "in", "redis-secured").Result(); err != nil || pending.Count != 0 {
		t.Fatalf("in still has %v pending entries (%v), want every one acked", pending, err)
	}
}

// client is a plain go-redis client logged in as alice over mutual TLS.
func (s *securedRedis) client(t *testing.T) *goredis.Client {
	pem, err := os.ReadFile(s.certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	pair, err := tls.LoadX509KeyPair(s.certs.ClientCert, s.certs.ClientKey)
	if err != nil {
		t.Fatal(err)
	}
	c := goredis.NewClient(&goredis.Options{Addr: s.addr, Username: "alice", Password: alicePassword,
		TLSConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{pair}, MinVersion: tls.VersionTLS12}})
	t.Cleanup(func() { _ = c.Close() })
	return c
}
