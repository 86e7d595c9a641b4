package kafka

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/registry"
)

// The client-credentials grant: the token is fetched with the client id
// and secret, reused while valid, and fetched again when it would expire
// within tokenEarly.
func TestOAuthClientCredentials(t *testing.T) {
	var fetched atomic.Int32
	var lifetime atomic.Int32 // seconds
	lifetime.Store(3600)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, secret, _ := r.BasicAuth()
		if err := r.ParseForm(); err != nil || id != "flowrun" || secret != "cs" ||
			r.Form.Get("grant_type") != "client_credentials" || r.Form.Get("scope") != "kafka read" {
			http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
			return
		}
		n := fetched.Add(1)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprintf("tok-%d", n), "token_type": "Bearer", "expires_in": lifetime.Load()})
	}))
	defer srv.Close()
	sasl := func(secret string) registry.Config {
		return registry.Config{"sasl": registry.Config{"mechanism": "OAUTHBEARER", "token_url": srv.URL,
			"client_id": "flowrun", "client_secret": secret, "scopes": []any{"kafka", "read"}}}
	}
	sc := sarama.NewConfig()
	if err := applySASL(sc, sasl("cs")); err != nil {
		t.Fatal(err)
	}
	if sc.Net.SASL.Mechanism != sarama.SASLTypeOAuth || !sc.Net.SASL.Enable {
		t.Fatalf("mechanism %q enabled %v", sc.Net.SASL.Mechanism, sc.Net.SASL.Enable)
	}
	tokens := func() string {
		tok, err := sc.Net.SASL.TokenProvider.Token()
		if err != nil {
			t.Fatal(err)
		}
		return tok.Token
	}
	if a, b := tokens(), tokens(); a != "tok-1" || b != "tok-1" || fetched.Load() != 1 {
		t.Fatalf("tokens %q, %q after %d fetches; want tok-1 reused", a, b, fetched.Load())
	}

	// A token that expires within tokenEarly is replaced at each use.
	sc = sarama.NewConfig()
	lifetime.Store(int32(tokenEarly.Seconds()) - 5)
	if err := applySASL(sc, sasl("cs")); err != nil {
		t.Fatal(err)
	}
	if a, b := tokens(), tokens(); a != "tok-2" || b != "tok-3" {
		t.Fatalf("short-lived tokens %q, %q; want each fetched anew", a, b)
	}

	// A refused client names the token endpoint, not the secret.
	sc = sarama.NewConfig()
	if err := applySASL(sc, sasl("wrong-secret")); err != nil {
		t.Fatal(err)
	}
	_, err := sc.Net.SASL.TokenProvider.Token()
	if err == nil || !strings.Contains(err.Error(), "OAuth token from "+srv.URL) || strings.Contains(err.Error(), "wrong-secret") {
		t.Fatalf("refused client: %v", err)
	}
}

// The fields given must be those the mechanism uses.
func TestSASLFieldsFit(t *testing.T) {
	cases := []struct {
		sasl registry.Config
		want string
	}{
		{registry.Config{"mechanism": "SCRAM-SHA-512", "user": "a"}, "sasl mechanism SCRAM-SHA-512 needs password"},
		{registry.Config{"mechanism": "PLAIN", "password": "p"}, "sasl mechanism PLAIN needs user"},
		{registry.Config{"mechanism": "PLAIN", "user": "a", "password": "p", "token": "t"}, "sasl.token is not used by mechanism PLAIN"},
		{registry.Config{"mechanism": "OAUTHBEARER"}, "sasl mechanism OAUTHBEARER needs token (a fixed token) or token_url"},
		{registry.Config{"mechanism": "OAUTHBEARER", "token_url": "http://x", "client_id": "c"}, "needs client_secret with token_url"},
		{registry.Config{"mechanism": "OAUTHBEARER", "token": "t", "user": "a"}, "sasl.user is not used by mechanism OAUTHBEARER"},
		{registry.Config{"mechanism": "OAUTHBEARER", "token": "t"}, ""},
		{registry.Config{"mechanism": "AWS_MSK_IAM"}, "sasl mechanism AWS_MSK_IAM needs region"},
		{registry.Config{"mechanism": "AWS_MSK_IAM", "region": "eu-west-1", "password": "p"}, "sasl.password is not used by mechanism AWS_MSK_IAM"},
		{registry.Config{"mechanism": "AWS_MSK_IAM", "region": "eu-west-1", "role_arn": "arn:aws:iam::1:role/r", "profile": "p"}, "takes role_arn or profile, not both"},
		{registry.Config{"mechanism": "AWS_MSK_IAM", "region": "eu-west-1", "role_arn": "arn:aws:iam::1:role/r"}, "AWS_MSK_IAM needs tls"},
		{registry.Config{"mechanism": "SCRAM-SHA-256", "user": "u", "password": "p", "region": "eu-west-1"}, "sasl.region is not used by mechanism SCRAM-SHA-256"},
	}
	for _, tc := range cases {
		err := checkSecurity(registry.Config{"sasl": tc.sasl})
		if tc.want == "" && err != nil || tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
			t.Errorf("%v: %v, want %q", tc.sasl, err, tc.want)
		}
	}
}
