package postgres

import (
	"errors"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/connectors/internal/testcert"
	"github.com/flowrun/flowrun/registry"
	"github.com/jackc/pgx/v5/pgconn"
)

func TestPasswordIsAppliedToTheDSN(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	got, err := dsn(registry.Config{"password": "s3cr:t"})
	if err != nil || got != "postgres://postgres:s3cr%3At@127.0.0.1:5432/test?sslmode=disable" {
		t.Errorf("url dsn: %q, %v", got, err)
	}
	got, _ = dsn(registry.Config{"dsn": "host=db user=app", "password": `it's\`})
	if got != `host=db user=app password='it\'s\\'` {
		t.Errorf("key=value dsn: %q", got)
	}
}

// sslmode and tls become libpq's settings, replacing the dsn's.
func TestSSLSettingsOverrideTheDSN(t *testing.T) {
	t.Setenv("DATABASE_URL", "")
	certs := testcert.New(t, testcert.Options{})
	spec, _ := registry.LookupConnector("postgres")
	cfg := func(raw map[string]any) registry.Config {
		raw["topic"] = "t"
		return conformance.Config(t, spec.SinkFields, raw)
	}
	cases := []struct {
		name string
		raw  map[string]any
		want string
	}{
		{"nothing set keeps the dsn", map[string]any{}, defaultDSN},
		{"sslmode alone", map[string]any{"sslmode": "require"},
			"postgres://postgres@127.0.0.1:5432/test?sslmode=require"},
		{"tls means verify-full", map[string]any{"tls": map[string]any{"ca_file": certs.CA}},
			"postgres://postgres@127.0.0.1:5432/test?sslmode=verify-full&sslrootcert=" + strings.ReplaceAll(certs.CA, "/", "%2F")},
		{"tls {} trusts the system's roots", map[string]any{"tls": map[string]any{}, "dsn": "host=db user=app sslmode=disable"},
			"host=db user=app sslmode=disable sslmode='verify-full' sslrootcert='system'"},
		{"client certificate", map[string]any{"sslmode": "verify-ca", "dsn": "host=db",
			"tls": map[string]any{"ca_file": certs.CA, "cert_file": certs.ClientCert, "key_file": certs.ClientKey}},
			"host=db sslmode='verify-ca' sslrootcert='" + certs.CA + "' sslcert='" + certs.ClientCert + "' sslkey='" + certs.ClientKey + "'"},
	}
	for _, tc := range cases {
		got, err := dsn(cfg(tc.raw))
		if err != nil || got != tc.want {
			t.Errorf("%s: dsn = %q, %v\nwant %q", tc.name, got, err, tc.want)
		}
	}
	for name, tc := range map[string]struct {
		raw  map[string]any
		path string
	}{
		"disable with tls":   {map[string]any{"sslmode": "disable", "tls": map[string]any{}}, "sslmode"},
		"missing CA file":    {map[string]any{"tls": map[string]any{"ca_file": "/no/such/ca.pem"}}, "ca_file"},
		"cert without a key": {map[string]any{"tls": map[string]any{"cert_file": certs.ClientCert}}, "key_file"},
	} {
		_, err := dsn(cfg(tc.raw))
		var at *registry.PathError
		if err == nil || !errors.As(err, &at) || at.Path[len(at.Path)-1] != tc.path {
			t.Errorf("%s: dsn error = %v, want one at %s", name, err, tc.path)
		}
	}
	if err := validate(cfg(map[string]any{"sslmode": "disable", "tls": map[string]any{}})); err == nil {
		t.Error("validate accepted sslmode: disable with tls")
	}
}

// What the server answers while connecting gets words that say what
// to change (the TLS words are tlsconf's, tested there and against a
// real server in the integration suite).
func TestServerRefusalsAreExplained(t *testing.T) {
	pc := &pgconn.Config{Host: "db", Port: 5432, User: "app", Database: "orders"}
	for code, want := range map[string]string{
		"28P01": `authentication failure: PostgreSQL server db:5432 refused user "app" and its password`,
		"28000": `authentication failure: PostgreSQL server db:5432 refused user "app"`,
		"3D000": `database "orders" does not exist on PostgreSQL server db:5432`,
		"42501": `authorization failure: user "app" may not connect to database "orders" on db:5432`,
	} {
		err := explain(pc, &pgconn.PgError{Code: code, Message: "no"})
		if !strings.HasPrefix(err.Error(), want) {
			t.Errorf("%s: %v\nwant it to start %q", code, err, want)
		}
	}
	noTLS := &pgconn.PgError{Code: "28000", Message: `no pg_hba.conf entry for host "127.0.0.1", user "app", database "orders", no encryption`}
	if err := explain(pc, noTLS); !strings.Contains(err.Error(), "accepts user \"app\" only over TLS") {
		t.Errorf("plaintext refused: %v", err)
	}
}
