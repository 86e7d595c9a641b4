//go:build integration

package nats

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/flowrun/flowrun/connectors/internal/testcert"
	"github.com/nats-io/jwt/v2"
	"github.com/nats-io/nkeys"
)

const alicePassword = "pw:with#odd chars"

// secured is a set of nats-servers that require mutual TLS and
// credentials: users (alice with a password, an NKey user, and nojs,
// who may not use JetStream's API), a token, and operator mode (JWTs).
type secured struct {
	certs         testcert.Files
	users, token  string // host:port
	operator      string
	seedFile      string // the NKey user's seed
	credsFile     string // a user of the operator's account
	strangerCreds string // a user of an account the server does not know
	tokenValue    string
	passwordFile  string // alicePassword as a mounted secret holds it
	tokenFile     string
}

func startSecured(t *testing.T) *secured {
	t.Helper()
	dir := t.TempDir()
	s := &secured{certs: testcert.New(t, testcert.Options{}), tokenValue: "t0ken-" + t.Name()}
	tlsBlock := fmt.Sprintf("tls {cert_file: %q, key_file: %q, ca_file: %q, verify: true, timeout: 5}\n", s.certs.Cert, s.certs.Key, s.certs.CA)

	user, err := nkeys.CreateUser()
	if err != nil {
		t.Fatal(err)
	}
	pub, _ := user.PublicKey()
	seed, _ := user.Seed()
	s.seedFile = writeFile(t, dir, "user.nk", string(seed))
	s.users = startNATS(t, tlsBlock+fmt.Sprintf(`authorization {
  users: [
    {user: alice, password: %q}
    {nkey: %s}
    {user: nojs, password: %q, permissions: {publish: {deny: ["$JS.API.>"]}}}
  ]
}
`, alicePassword, pub, alicePassword))
	s.token = startNATS(t, tlsBlock+fmt.Sprintf("authorization {token: %q}\n", s.tokenValue))

	m := operatorMode(t)
	s.credsFile = writeFile(t, dir, "user.creds", m.creds)
	s.strangerCreds = writeFile(t, dir, "stranger.creds", operatorMode(t).creds)
	s.operator = startNATS(t, tlsBlock+fmt.Sprintf("operator: %q\nsystem_account: %s\nresolver: MEMORY\nresolver_preload: {%s: %q, %s: %q}\n",
		writeFile(t, dir, "op.jwt", m.operator), m.sys, m.sys, m.sysJWT, m.acct, m.acctJWT))

	s.passwordFile = writeFile(t, dir, "nats-password", alicePassword+"\n")
	s.tokenFile = writeFile(t, dir, "nats-token", s.tokenValue+"\n")
	return s
}

// operated is what `nsc` would make: an operator, a system account,
// an account with JetStream enabled, and a user of that account as a
// .creds file; every JWT signed by its issuer's NKey.
type operated struct {
	operator      string // the operator's JWT
	sys, sysJWT   string // the system account's public key and JWT
	acct, acctJWT string
	creds         string
}

func operatorMode(t *testing.T) operated {
	t.Helper()
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	var m operated
	op, err := nkeys.CreateOperator()
	must(err)
	opPub, _ := op.PublicKey()
	m.operator, err = jwt.NewOperatorClaims(opPub).Encode(op)
	must(err)
	account := func(js bool) (nkeys.KeyPair, string, string) {
		kp, err := nkeys.CreateAccount()
		must(err)
		pub, _ := kp.PublicKey()
		ac := jwt.NewAccountClaims(pub)
		if js {
			ac.Limits.JetStreamLimits = jwt.JetStreamLimits{MemoryStorage: -1, DiskStorage: -1, Streams: -1, Consumer: -1}
		}
		signed, err := ac.Encode(op)
		must(err)
		return kp, pub, signed
	}
	_, m.sys, m.sysJWT = account(false)
	acct, pub, signed := account(true)
	m.acct, m.acctJWT = pub, signed
	user, err := nkeys.CreateUser()
	must(err)
	userPub, _ := user.PublicKey()
	userJWT, err := jwt.NewUserClaims(userPub).Encode(acct)
	must(err)
	seed, _ := user.Seed()
	b, err := jwt.FormatUserConfig(userJWT, seed)
	must(err)
	m.creds = string(b)
	return m
}

func writeFile(t *testing.T, dir, name, content string) string {
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// tlsConf is the tls object of a connector that trusts the test CA and
// presents the client certificate.
func (s *secured) tlsConf() map[string]any {
	return map[string]any{"ca_file": s.certs.CA, "cert_file": s.certs.ClientCert, "key_file": s.certs.ClientKey}
}
