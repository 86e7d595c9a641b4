package nats

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/connectors/internal/testcert"
	_ "github.com/flowrun/flowrun/connectors/stdio"
	"github.com/nats-io/nkeys"
)

// validate reports each security mistake at its line, before any
// connection: two ways to log in, a password without a user, files that
// are missing or hold no key.
func TestValidateSecuritySettings(t *testing.T) {
	dir := t.TempDir()
	certs := testcert.New(t, testcert.Options{})
	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	seed, _ := user.Seed()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	goodSeed, notSeed, notCreds := write("user.nk", string(seed)), write("bad.nk", "not a seed"), write("bad.creds", "not creds")
	cases := []struct {
		name, sink, path, want string
	}{
		{"mutual TLS and an NKey", `{subject: s, nkey_seed_file: ` + goodSeed + `, tls: {ca_file: ` + certs.CA + `, cert_file: ` + certs.ClientCert + `, key_file: ` + certs.ClientKey + `}}`, "", ""},
		{"user and token", `{subject: s, user: a, password: p, token: t}`, "sink.nats.token", "user and token are all set; a connection authenticates one way, keep one"},
		{"password without user", `{subject: s, password: p}`, "sink.nats.password", "password is set without user; set user too"},
		{"missing seed file", `{subject: s, nkey_seed_file: /no/such.nk}`, "sink.nats.nkey_seed_file", "open /no/such.nk: no such file or directory"},
		{"not a seed", `{subject: s, nkey_seed_file: ` + notSeed + `}`, "sink.nats.nkey_seed_file", "nkey_seed_file " + notSeed},
		{"missing creds", `{subject: s, credentials: /no/such.creds}`, "sink.nats.credentials", "credentials /no/such.creds: open /no/such.creds: no such file or directory"},
		{"not creds", `{subject: s, credentials: ` + notCreds + `}`, "sink.nats.credentials", "credentials " + notCreds + ": it is not a .creds file (a user JWT and its NKey seed, as nsc writes them): no user JWT"},
		{"missing CA", `{subject: s, tls: {ca_file: /no/ca.pem}}`, "sink.nats.tls.ca_file", "tls.ca_file: open /no/ca.pem: no such file or directory"},
		{"cert without key", `{subject: s, tls: {cert_file: ` + certs.ClientCert + `}}`, "sink.nats.tls", "tls.cert_file needs key_file"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path := write("flow.yaml", "version: 1\nname: sec\nsource: {stdin: {}}\nsink:\n  nats: "+c.sink+"\n")
			flow, ds := compiler.CompileFile(path)
			if c.want == "" {
				if flow == nil {
					t.Fatalf("compile: %v", ds)
				}
				return
			}
			if len(ds) != 1 || ds[0].Path != c.path || ds[0].Pos.Line != 5 || !strings.Contains(ds[0].Message, c.want) {
				t.Fatalf("diagnostics %v\nwant one at line 5, %s: %q", ds, c.path, c.want)
			}
		})
	}
}

// insecure_skip_verify is allowed, with a warning.
func TestInsecureSkipVerifyWarns(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flow.yaml")
	if err := os.WriteFile(path, []byte("version: 1\nname: sec\nsource: {stdin: {}}\nsink:\n  nats: {subject: s, tls: {insecure_skip_verify: true}}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	flow, ds := compiler.CompileFile(path)
	if flow == nil {
		t.Fatalf("compile: %v", ds)
	}
	if len(flow.Warnings) != 1 || flow.Warnings[0].Path != "sink.nats.tls.insecure_skip_verify" || !strings.Contains(flow.Warnings[0].Message, "anyone between flowrun and the server can read and change the data") {
		t.Fatalf("warnings %v", flow.Warnings)
	}
}

// Errors name servers by host:port only: a url's password stays out.
func TestHostsDropCredentials(t *testing.T) {
	got := hosts("nats://alice:s3cret@a.example:4333, tls://b.example,c.example:4444")
	if want := []string{"a.example:4333", "b.example:4222", "c.example:4444"}; !slices.Equal(got, want) {
		t.Fatalf("hosts = %v, want %v", got, want)
	}
}
