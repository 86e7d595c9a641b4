package postgres

import (
	"crypto/tls"
	"fmt"
	"net/url"
	"slices"
	"strings"

	"github.com/flowrun/flowrun/connectors/internal/tlsconf"
	"github.com/flowrun/flowrun/registry"
	"github.com/jackc/pgx/v5/pgconn"
)

var sslmodeField = registry.Field{Name: "sslmode", Type: registry.String,
	Enum: []string{"disable", "require", "verify-ca", "verify-full"},
	Doc: "TLS to the server, as libpq's sslmode: disable (plaintext), require (encrypted; the certificate is checked only when tls.ca_file is set), " +
		"verify-ca (signed by a trusted CA), verify-full (and valid for the dsn's host, or tls.server_name) (default: verify-full when tls is set, else the dsn's, else prefer)"}

// tlsField is the shared tls block without insecure_skip_verify:
// sslmode says how much of the certificate is checked (require: none).
var tlsField = func() registry.Field {
	f := tlsconf.Field("server")
	f.Doc = "certificates for TLS (libpq's sslrootcert, sslcert, sslkey); `tls: {}` trusts the system's certificate authorities"
	f.Fields = slices.DeleteFunc(slices.Clone(f.Fields), func(sub registry.Field) bool { return sub.Name == "insecure_skip_verify" })
	return f
}()

// serverName applies tls.server_name, which libpq has no setting for,
// to every TLS attempt of the parsed dsn.
func serverName(cfg registry.Config, pc *pgconn.Config) {
	name := cfg.Object("tls").String("server_name")
	if name == "" {
		return
	}
	for _, tc := range append([]*tls.Config{pc.TLSConfig}, fallbackTLS(pc)...) {
		if tc != nil {
			tc.ServerName = name
		}
	}
}

func fallbackTLS(pc *pgconn.Config) []*tls.Config {
	var out []*tls.Config
	for _, f := range pc.Fallbacks {
		out = append(out, f.TLSConfig)
	}
	return out
}

// sslSettings are the libpq connection settings of sslmode and tls,
// which override the dsn's; none when neither is set.
func sslSettings(cfg registry.Config) ([][2]string, error) {
	mode, t := cfg.String("sslmode"), cfg.Object("tls")
	if t == nil {
		if mode == "" {
			return nil, nil
		}
		return [][2]string{{"sslmode", mode}}, nil
	}
	if mode == "disable" {
		return nil, registry.At(fmt.Errorf("sslmode is disable but tls is set; remove tls, or set sslmode to verify-full"), "sslmode")
	}
	// Read the files now, for errors that name the field to fix.
	if _, err := tlsconf.Config(t); err != nil {
		return nil, err
	}
	if mode == "" {
		mode = "verify-full"
	}
	set := [][2]string{{"sslmode", mode}}
	ca := t.String("ca_file")
	if ca == "" {
		ca = "system" // libpq's and pgx's name for the system's roots
	}
	set = append(set, [2]string{"sslrootcert", ca})
	if c := t.String("cert_file"); c != "" {
		set = append(set, [2]string{"sslcert", c}, [2]string{"sslkey", t.String("key_file")})
	}
	return set, nil
}

// withSettings sets libpq settings in a dsn, URL or key=value form;
// they replace the dsn's own.
func withSettings(d string, set [][2]string) (string, error) {
	if len(set) == 0 {
		return d, nil
	}
	if isURL(d) {
		u, err := url.Parse(d)
		if err != nil {
			return "", fmt.Errorf("dsn: %w", err)
		}
		q := u.Query()
		for _, kv := range set {
			q.Set(kv[0], kv[1])
		}
		u.RawQuery = q.Encode()
		return u.String(), nil
	}
	var b strings.Builder
	b.WriteString(d)
	for _, kv := range set {
		b.WriteString(" " + kv[0] + "=" + quote(kv[1])) // the last of a key wins
	}
	return b.String(), nil
}

func isURL(d string) bool {
	return strings.HasPrefix(d, "postgres://") || strings.HasPrefix(d, "postgresql://")
}

// quote is a key=value dsn value: single-quoted, ' and \ escaped.
func quote(v string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(v) + "'"
}
