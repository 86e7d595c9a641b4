package nats

import (
	"crypto/tls"
	"fmt"
	"os"
	"strings"

	"github.com/flowrun/flowrun/connectors/internal/tlsconf"
	"github.com/flowrun/flowrun/registry"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nkeys"
)

var securityFields = []registry.Field{
	{Name: "user", Type: registry.String, Doc: "user name, e.g. \"${NATS_USER}\" (with password)"},
	{Name: "password", Type: registry.String, Secret: true, Doc: "password of user, e.g. \"${file:/run/secrets/nats-password}\""},
	{Name: "token", Type: registry.String, Secret: true, Doc: "authentication token, e.g. \"${file:/run/secrets/nats-token}\""},
	{Name: "nkey_seed_file", Type: registry.String, Doc: "path of a file holding a user NKey seed (SU...); the server knows the user by its public key"},
	{Name: "credentials", Type: registry.String, Doc: "path of a .creds file (a user JWT and its NKey seed), for servers run in operator (decentralized JWT) mode"},
	tlsconf.Field("server"),
}

// security is how a connection proves who it is, read from the config.
type security struct {
	tls  *tls.Config
	opts []nats.Option
	who  string // what the server is shown, for errors: `user "alice"`, "the token"...
}

// readSecurity reads tls and the one way of authenticating, checking
// the files it names, so validate reports what a start would fail on.
func readSecurity(cfg registry.Config) (*security, error) {
	tc, err := tlsconf.FromConfig(cfg)
	if err != nil {
		return nil, err
	}
	s := &security{tls: tc, who: "a connection without credentials"}
	if tc != nil {
		s.opts = append(s.opts, nats.Secure(tc))
	}
	user, password, token := cfg.String("user"), cfg.String("password"), cfg.String("token")
	seed, creds := cfg.String("nkey_seed_file"), cfg.String("credentials")
	var set []string
	for _, f := range []struct{ name, value string }{{"user", user}, {"token", token}, {"nkey_seed_file", seed}, {"credentials", creds}} {
		if f.value != "" {
			set = append(set, f.name)
		}
	}
	if len(set) > 1 {
		return nil, registry.At(fmt.Errorf("%s are all set; a connection authenticates one way, keep one", strings.Join(set, " and ")), set[1])
	}
	switch {
	case password != "" && user == "":
		return nil, registry.At(fmt.Errorf("password is set without user; set user too"), "password")
	case user != "":
		s.opts, s.who = append(s.opts, nats.UserInfo(user, password)), fmt.Sprintf("user %q and its password", user)
	case token != "":
		s.opts, s.who = append(s.opts, nats.Token(token)), "the token"
	case seed != "":
		opt, err := nats.NkeyOptionFromSeed(seed)
		if err != nil {
			return nil, registry.At(fmt.Errorf("nkey_seed_file %s: %w", seed, err), "nkey_seed_file")
		}
		s.opts, s.who = append(s.opts, opt), "the NKey of "+seed
	case creds != "":
		if err := checkCreds(creds); err != nil {
			return nil, registry.At(fmt.Errorf("credentials %s: %w", creds, err), "credentials")
		}
		s.opts, s.who = append(s.opts, nats.UserCredentials(creds)), "the user JWT of "+creds
	}
	return s, nil
}

// checkCreds reads a .creds file as the client will at connect time.
func checkCreds(path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	const what = "it is not a .creds file (a user JWT and its NKey seed, as nsc writes them)"
	if jwt, err := nkeys.ParseDecoratedJWT(b); err != nil || strings.Count(jwt, ".") != 2 {
		return fmt.Errorf("%s: no user JWT", what)
	}
	kp, err := nkeys.ParseDecoratedNKey(b)
	if err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	kp.Wipe()
	return nil
}

// validateSecurity is readSecurity for validate.
func validateSecurity(cfg registry.Config) error {
	_, err := readSecurity(cfg)
	return err
}
