//go:build integration

package postgres

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/connectors/internal/testcert"
	"github.com/flowrun/flowrun/registry"
	"github.com/google/uuid"
)

// The connector reads and writes over TLS with a client certificate
// and a password: the whole conformance suite against a server that
// accepts nothing else.
func TestConformanceOverTLS(t *testing.T) {
	s := startTLSServer(t)
	h := harness()
	h.Topic = func(t *testing.T) (map[string]any, map[string]any) {
		topic := "tls_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
		secure := func(m map[string]any) map[string]any {
			m["dsn"], m["password"], m["tls"] = s.dsn("flowrun"), s.password, s.tls()
			return m
		}
		src := map[string]any{"topic": topic, "group": "g", "poll_interval": 20 * time.Millisecond,
			"redelivery_delay": 50 * time.Millisecond}
		return secure(src), secure(map[string]any{"topic": topic}) // the server goes with the test
	}
	conformance.Run(t, h)
}

// validate --connect says which step failed, each in its own words,
// and never shows the password.
func TestCheckOverTLS(t *testing.T) {
	s := startTLSServer(t)
	other := testcert.New(t, testcert.Options{})
	s.exec(t,
		`CREATE ROLE reader LOGIN PASSWORD 'reader-pw'`,
		`CREATE ROLE outsider LOGIN PASSWORD 'outsider-pw'`,
		`REVOKE CONNECT ON DATABASE postgres FROM PUBLIC`,
		`GRANT CONNECT ON DATABASE postgres TO flowrun, reader`,
		`CREATE TABLE "watermill_private" (x int)`,
		`CREATE TABLE "watermill_offsets_private" (x int)`)
	spec, _ := registry.LookupConnector("postgres")
	other127 := strings.Replace(s.addr, "127.0.0.1", "127.0.0.2", 1) // the server's too, not in its certificate
	withoutCert := map[string]any{"ca_file": s.certs.CA}
	cases := []struct {
		name string
		raw  map[string]any
		want string // "" = no error
	}{
		{"right CA, certificate and password", map[string]any{"dsn": s.dsn("flowrun"), "password": s.password, "tls": s.tls()}, ""},
		{"verify-ca", map[string]any{"dsn": s.dsn("flowrun"), "password": s.password, "tls": s.tls(), "sslmode": "verify-ca"}, ""},
		{"wrong password", map[string]any{"dsn": s.dsn("flowrun"), "password": "wrong-pw", "tls": s.tls()},
			`authentication failure: PostgreSQL server ` + s.addr + ` refused user "flowrun" and its password`},
		{"wrong CA", map[string]any{"dsn": s.dsn("flowrun"), "password": s.password,
			"tls": map[string]any{"ca_file": other.CA, "cert_file": s.certs.ClientCert, "key_file": s.certs.ClientKey}},
			"TLS failure: PostgreSQL server " + s.addr + " has a certificate signed by an authority flowrun does not trust"},
		{"wrong CA with verify-ca", map[string]any{"dsn": s.dsn("flowrun"), "password": s.password, "sslmode": "verify-ca",
			"tls": map[string]any{"ca_file": other.CA}},
			"TLS failure: PostgreSQL server " + s.addr + " has a certificate signed by an authority flowrun does not trust"},
		{"name mismatch", map[string]any{"dsn": "postgres://flowrun@" + other127 + "/postgres", "password": s.password, "tls": s.tls()},
			`TLS failure: PostgreSQL server ` + other127 + ` has a certificate that is not valid for "127.0.0.2"`},
		{"server_name", map[string]any{"dsn": "postgres://flowrun@" + other127 + "/postgres", "password": s.password,
			"tls": map[string]any{"ca_file": s.certs.CA, "cert_file": s.certs.ClientCert, "key_file": s.certs.ClientKey, "server_name": "localhost"}}, ""},
		{"name mismatch is no matter to verify-ca", map[string]any{"dsn": "postgres://flowrun@" + other127 + "/postgres", "password": s.password, "tls": s.tls(), "sslmode": "verify-ca"}, ""},
		{"cannot resolve", map[string]any{"dsn": "postgres://flowrun@no-such-host.invalid:5432/postgres", "password": s.password, "tls": s.tls()},
			`cannot resolve "no-such-host.invalid"`},
		{"cannot connect", map[string]any{"dsn": "postgres://flowrun@127.0.0.1:1/postgres", "password": s.password, "tls": s.tls()},
			`cannot reach PostgreSQL at 127.0.0.1:1`},
		{"no client certificate", map[string]any{"dsn": s.dsn("flowrun"), "password": s.password, "tls": withoutCert},
			`authentication failure: PostgreSQL server ` + s.addr + ` wants a valid client certificate for user "flowrun"`},
		{"plaintext", map[string]any{"dsn": s.dsn("flowrun"), "password": s.password, "sslmode": "disable"},
			`authentication failure: PostgreSQL server ` + s.addr + ` accepts user "flowrun" only over TLS`},
		{"no CONNECT on the database", map[string]any{"dsn": s.dsn("outsider"), "password": "outsider-pw", "tls": withoutCert},
			`authorization failure: user "outsider" may not connect to database "postgres"`},
		{"no CREATE on the schema", map[string]any{"dsn": s.dsn("reader"), "password": "reader-pw", "tls": withoutCert},
			`authorization failure: the tables do not exist and user "reader" may not create them in schema public`},
		{"no INSERT on the table", map[string]any{"dsn": s.dsn("reader"), "password": "reader-pw", "tls": withoutCert, "topic": "private"},
			`authorization failure: user "reader" may not insert into table "watermill_private"; ask for GRANT INSERT ON "watermill_private" TO reader`},
		{"source with no SELECT on the table", map[string]any{"dsn": s.dsn("reader"), "password": "reader-pw", "tls": withoutCert, "topic": "private"},
			`authorization failure: user "reader" may not read (SELECT) table "watermill_private"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, ok := tc.raw["topic"]; !ok {
				tc.raw["topic"] = "t_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")
			}
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			fields, role := spec.SinkFields, "sink"
			if strings.HasPrefix(tc.name, "source ") {
				fields, role = spec.SourceFields, "source"
			}
			err := spec.Check(ctx, conformance.Config(t, fields, tc.raw), conformance.Env(t, role, 0))
			switch {
			case tc.want == "" && err != nil:
				t.Fatalf("check: %v", err)
			case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
				t.Fatalf("check = %v\nwant it to say %q", err, tc.want)
			case err != nil && strings.Contains(err.Error(), s.password):
				t.Fatalf("the password shows: %v", err)
			}
		})
	}
}
