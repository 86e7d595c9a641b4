package kafka

import (
	"context"
	"fmt"
	"net/http"
	"time"

	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/registry"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

const (
	mechPlain       = "PLAIN"
	mechScram256    = "SCRAM-SHA-256"
	mechScram512    = "SCRAM-SHA-512"
	mechOAuthBearer = "OAUTHBEARER"
)

var saslField = registry.Field{Name: "sasl", Type: registry.Object,
	Doc: "authenticate with SASL (usually together with tls: PLAIN sends the password as is)",
	Fields: []registry.Field{
		{Name: "mechanism", Type: registry.String, Required: true, Enum: []string{mechPlain, mechScram256, mechScram512, mechOAuthBearer, mechMSKIAM},
			Doc: "PLAIN and SCRAM-SHA-256/512 take user and password; OAUTHBEARER takes token, or token_url, client_id and client_secret; AWS_MSK_IAM takes region (and role_arn or profile) and signs with the AWS credentials of the environment"},
		{Name: "user", Type: registry.String, Doc: "user name (PLAIN, SCRAM)"},
		{Name: "password", Type: registry.String, Secret: true, Doc: `password (PLAIN, SCRAM), e.g. "${file:/run/secrets/kafka-password}"`},
		{Name: "token", Type: registry.String, Secret: true, Doc: "a fixed OAuth bearer token (OAUTHBEARER)"},
		{Name: "token_url", Type: registry.String,
			Doc: "OAuth token endpoint: OAUTHBEARER fetches tokens with the client-credentials grant, and a new one before each expires"},
		{Name: "client_id", Type: registry.String, Doc: "OAuth client id (with token_url)"},
		{Name: "client_secret", Type: registry.String, Secret: true, Doc: "OAuth client secret (with token_url)"},
		{Name: "scopes", Type: registry.List, Elem: &registry.Field{Type: registry.String}, Doc: "OAuth scopes to ask for (with token_url)"},
		{Name: "region", Type: registry.String, Doc: "the MSK cluster's AWS region, e.g. eu-west-1 (AWS_MSK_IAM)"},
		{Name: "role_arn", Type: registry.String, Doc: "an IAM role to assume for the cluster (AWS_MSK_IAM); unset: the default AWS credential chain (environment, shared files, EKS web identity, ECS/EC2 role)"},
		{Name: "profile", Type: registry.String, Doc: "a named profile of the AWS shared config files (AWS_MSK_IAM)"},
	},
}

// tokenEarly is how long before its expiry a fetched token is replaced,
// so a connection never authenticates with one about to expire.
const tokenEarly = 30 * time.Second

// tokenTimeout bounds one request to the token endpoint.
const tokenTimeout = 10 * time.Second

// applySASL turns on SASL when the sasl object is given.
func applySASL(sc *sarama.Config, cfg registry.Config) error {
	s := cfg.Object("sasl")
	if s == nil {
		return nil
	}
	mech := s.String("mechanism")
	if err := saslFieldsFit(s, mech); err != nil {
		return err
	}
	if mech == mechMSKIAM && cfg.Object("tls") == nil {
		return registry.At(fmt.Errorf("sasl mechanism AWS_MSK_IAM needs tls: MSK's IAM listener (port 9098) speaks only TLS; add `tls: {}`"), "sasl", "mechanism")
	}
	sc.Net.SASL.Enable = true
	sc.Net.SASL.Handshake = true
	sc.Net.SASL.Version = sarama.SASLHandshakeV1
	sc.Net.SASL.User = s.String("user")
	sc.Net.SASL.Password = s.String("password")
	switch mech {
	case mechPlain:
		sc.Net.SASL.Mechanism = sarama.SASLTypePlaintext
	case mechScram256:
		sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA256
		sc.Net.SASL.SCRAMClientGeneratorFunc = newSCRAMClient(sha256)
	case mechScram512:
		sc.Net.SASL.Mechanism = sarama.SASLTypeSCRAMSHA512
		sc.Net.SASL.SCRAMClientGeneratorFunc = newSCRAMClient(sha512)
	case mechOAuthBearer:
		sc.Net.SASL.Mechanism = sarama.SASLTypeOAuth
		sc.Net.SASL.TokenProvider = tokenProvider(s)
	case mechMSKIAM:
		sc.Net.SASL.Mechanism = sarama.SASLTypeOAuth
		sc.Net.SASL.TokenProvider = mskTokens(mskSigner(s), s.String("region"))
	}
	return nil
}

// saslFieldsFit checks that the fields given are those mech uses.
func saslFieldsFit(s registry.Config, mech string) error {
	given := func(name string) bool { return s.String(name) != "" }
	need := func(name, why string) error {
		if given(name) {
			return nil
		}
		return registry.At(fmt.Errorf("sasl mechanism %s needs %s", mech, why), "sasl", name)
	}
	refuse := func(names ...string) error {
		for _, n := range names {
			if given(n) || n == "scopes" && len(s.Strings(n)) > 0 {
				return registry.At(fmt.Errorf("sasl.%s is not used by mechanism %s; remove it or change mechanism", n, mech), "sasl", n)
			}
		}
		return nil
	}
	switch mech {
	case mechPlain, mechScram256, mechScram512:
		if err := need("user", "user"); err != nil {
			return err
		}
		if err := need("password", `password, e.g. "${file:/run/secrets/kafka-password}"`); err != nil {
			return err
		}
		return refuse("token", "token_url", "client_id", "client_secret", "scopes", "region", "role_arn", "profile")
	case mechMSKIAM:
		if err := need("region", "region, the cluster's AWS region"); err != nil {
			return err
		}
		if given("role_arn") && given("profile") {
			return registry.At(fmt.Errorf("sasl mechanism AWS_MSK_IAM takes role_arn or profile, not both"), "sasl", "profile")
		}
		return refuse("user", "password", "token", "token_url", "client_id", "client_secret", "scopes")
	case mechOAuthBearer:
		if err := refuse("user", "password", "region", "role_arn", "profile"); err != nil {
			return err
		}
		if given("token") {
			return refuse("token_url", "client_id", "client_secret", "scopes")
		}
		if !given("token_url") {
			return registry.At(fmt.Errorf("sasl mechanism OAUTHBEARER needs token (a fixed token) or token_url, client_id and client_secret (the client-credentials grant)"), "sasl", "token")
		}
		if err := need("client_id", "client_id with token_url"); err != nil {
			return err
		}
		return need("client_secret", "client_secret with token_url")
	}
	return registry.At(fmt.Errorf("unknown sasl mechanism %q", mech), "sasl", "mechanism")
}

// tokenProvider gives Sarama the fixed token, or tokens fetched with the
// client-credentials grant: cached, and fetched again tokenEarly before
// they expire (Sarama asks at each connection's authentication).
func tokenProvider(s registry.Config) sarama.AccessTokenProvider {
	if tok := s.String("token"); tok != "" {
		return staticToken(tok)
	}
	cc := &clientcredentials.Config{ClientID: s.String("client_id"), ClientSecret: s.String("client_secret"),
		TokenURL: s.String("token_url"), Scopes: s.Strings("scopes")}
	ctx := context.WithValue(context.Background(), oauth2.HTTPClient, &http.Client{Timeout: tokenTimeout})
	fetch := tokenSourceFunc(func() (*oauth2.Token, error) { return cc.Token(ctx) })
	return oauthTokens{src: oauth2.ReuseTokenSourceWithExpiry(nil, fetch, tokenEarly), url: cc.TokenURL}
}

type staticToken string

func (t staticToken) Token() (*sarama.AccessToken, error) {
	return &sarama.AccessToken{Token: string(t)}, nil
}

type tokenSourceFunc func() (*oauth2.Token, error)

func (f tokenSourceFunc) Token() (*oauth2.Token, error) { return f() }

type oauthTokens struct {
	src oauth2.TokenSource
	url string
}

func (o oauthTokens) Token() (*sarama.AccessToken, error) {
	t, err := o.src.Token()
	if err != nil {
		return nil, fmt.Errorf("OAuth token from %s: %w", o.url, err)
	}
	return &sarama.AccessToken{Token: t.AccessToken}, nil
}
