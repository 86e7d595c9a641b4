package redis

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/connectors/internal/testcert"
	_ "github.com/flowrun/flowrun/connectors/stdio"
	"github.com/flowrun/flowrun/registry"
)

// A tls object turns TLS on whatever the url's scheme, names the
// server by the url's host unless server_name says otherwise, and the
// username and password fields override the url's.
func TestOptionsTLSAndACLUser(t *testing.T) {
	certs := testcert.New(t, testcert.Options{})
	tlsObj := registry.Config{"ca_file": certs.CA, "cert_file": certs.ClientCert, "key_file": certs.ClientKey, "insecure_skip_verify": false}
	opts, err := options(registry.Config{"url": "redis://u:url-pw@cache.internal:6380/2", "username": "alice", "password": "pw", "tls": tlsObj})
	if err != nil {
		t.Fatal(err)
	}
	tc := opts.TLSConfig
	if tc == nil || tc.ServerName != "cache.internal" || tc.RootCAs == nil || len(tc.Certificates) != 1 || opts.Username != "alice" || opts.Password != "pw" || opts.DB != 2 {
		t.Fatalf("options = %+v (tls %+v)", opts, tc)
	}
	named := registry.Config{"ca_file": certs.CA, "server_name": "redis.example.com"}
	if opts, err = options(registry.Config{"url": "rediss://10.0.0.5:6380", "tls": named}); err != nil || opts.TLSConfig.ServerName != "redis.example.com" {
		t.Fatalf("server_name: %v, %v", opts, err)
	}
	if opts, err = options(registry.Config{"url": "rediss://cache:6380"}); err != nil || opts.TLSConfig == nil {
		t.Fatalf("rediss:// without tls must still use TLS (system roots): %v, %v", opts, err)
	}
	if opts, err = options(registry.Config{"url": "redis://cache:6379"}); err != nil || opts.TLSConfig != nil {
		t.Fatalf("redis:// without tls is plaintext: %v, %v", opts, err)
	}
}

// validate reports a missing CA file at its line, and warns about
// insecure_skip_verify.
func TestValidateTLSSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flow.yaml")
	src := "version: 1\nname: sec\nsource: {stdin: {}}\nsink:\n  redis: {stream: s, tls: {ca_file: /no/ca.pem}}\n"
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, ds := compiler.CompileFile(path); len(ds) != 1 || ds[0].Path != "sink.redis.tls.ca_file" || ds[0].Pos.Line != 5 ||
		!strings.Contains(ds[0].Message, "tls.ca_file: open /no/ca.pem: no such file or directory") {
		t.Fatalf("diagnostics %v", ds)
	}
	if err := os.WriteFile(path, []byte(strings.Replace(src, "ca_file: /no/ca.pem", "insecure_skip_verify: true", 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	flow, ds := compiler.CompileFile(path)
	if flow == nil {
		t.Fatalf("compile: %v", ds)
	}
	if len(flow.Warnings) != 1 || flow.Warnings[0].Path != "sink.redis.tls.insecure_skip_verify" || !strings.Contains(flow.Warnings[0].Message, "accepts any certificate") {
		t.Fatalf("warnings %v", flow.Warnings)
	}
}
