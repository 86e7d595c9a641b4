package kafka

import (
	"context"
	"encoding/base64"
	"errors"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/registry"
)

// AWS_MSK_IAM signs, with the AWS credentials of the environment, the
// token MSK expects over OAUTHBEARER: a presigned kafka-cluster:Connect
// request for the cluster's region.
func TestMSKIAMTokenIsASignedConnectRequest(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDFLOWRUNTEST")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "not-a-real-secret")
	t.Setenv("AWS_SESSION_TOKEN", "")
	t.Setenv("AWS_PROFILE", "")
	t.Setenv("AWS_CONFIG_FILE", "/dev/null") // nothing from this machine's own files
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true")

	sc := sarama.NewConfig()
	if err := applySASL(sc, registry.Config{"tls": registry.Config{}, "sasl": registry.Config{"mechanism": "AWS_MSK_IAM", "region": "eu-west-1"}}); err != nil {
		t.Fatal(err)
	}
	if sc.Net.SASL.Mechanism != sarama.SASLTypeOAuth {
		t.Fatalf("mechanism %q, want OAUTHBEARER (MSK takes IAM over it)", sc.Net.SASL.Mechanism)
	}
	tok, err := sc.Net.SASL.TokenProvider.Token()
	if err != nil {
		t.Fatal(err)
	}
	raw, err := base64.RawURLEncoding.DecodeString(tok.Token)
	if err != nil {
		t.Fatalf("token is not base64url: %v", err)
	}
	u, err := url.Parse(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	if u.Host != "kafka.eu-west-1.amazonaws.com" || q.Get("Action") != "kafka-cluster:Connect" ||
		!strings.HasPrefix(q.Get("X-Amz-Credential"), "AKIDFLOWRUNTEST/") || q.Get("X-Amz-Signature") == "" ||
		strings.Contains(string(raw), "not-a-real-secret") {
		t.Fatalf("token is %s, want a SigV4-presigned Connect request for eu-west-1 signed by AKIDFLOWRUNTEST", raw)
	}
}

// A token is reused until tokenEarly before it expires; a signing
// failure names the signer and region.
func TestMSKIAMTokensAreCached(t *testing.T) {
	signed := 0
	expires := time.Now().Add(15 * time.Minute)
	fail := false
	sign := func(context.Context) (string, int64, error) {
		if fail {
			return "", 0, errors.New("failed to load credentials: no EC2 IMDS role found")
		}
		signed++
		return "tok-" + string(rune('0'+signed)), expires.UnixMilli(), nil
	}
	p := mskTokens(sign, "us-east-1")
	a, _ := p.Token()
	b, _ := p.Token()
	if a.Token != "tok-1" || b.Token != "tok-1" || signed != 1 {
		t.Fatalf("tokens %q, %q after %d signings; want tok-1 reused", a.Token, b.Token, signed)
	}

	expires = time.Now().Add(tokenEarly / 2) // about to expire: signed anew each time
	p = mskTokens(sign, "us-east-1")
	a, _ = p.Token()
	b, _ = p.Token()
	if a.Token != "tok-2" || b.Token != "tok-3" {
		t.Fatalf("short-lived tokens %q, %q; want each signed anew", a.Token, b.Token)
	}

	fail = true
	_, err := mskTokens(sign, "us-east-1").Token()
	if err == nil || !strings.Contains(err.Error(), "AWS MSK IAM signer (region us-east-1)") || !strings.Contains(err.Error(), "no EC2 IMDS role") {
		t.Fatalf("signing failure: %v", err)
	}
}

// MSK's IAM listener speaks only TLS: without tls the flow is refused
// with what to add, not left to an obscure connection failure.
func TestMSKIAMNeedsTLS(t *testing.T) {
	err := applySASL(sarama.NewConfig(), registry.Config{"sasl": registry.Config{"mechanism": "AWS_MSK_IAM", "region": "eu-west-1"}})
	if err == nil || !strings.Contains(err.Error(), "AWS_MSK_IAM needs tls") {
		t.Fatalf("applySASL = %v, want AWS_MSK_IAM needs tls", err)
	}
}
