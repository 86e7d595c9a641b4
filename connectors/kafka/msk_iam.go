package kafka

import (
	"context"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/aws/aws-msk-iam-sasl-signer-go/signer"
	"github.com/flowrun/flowrun/registry"
	"golang.org/x/oauth2"
)

// mechMSKIAM is Amazon MSK's IAM access control. MSK takes it over
// SASL/OAUTHBEARER: the token is a SigV4-presigned kafka-cluster:Connect
// request, made by AWS's own signer from the usual AWS credentials.
const mechMSKIAM = "AWS_MSK_IAM"

// mskToken signs a token for region with the credentials chosen by the
// sasl fields: a role to assume, a named profile, or the default chain
// (environment, shared files, web identity in EKS, ECS/EC2 roles).
type mskToken func(ctx context.Context) (token string, expiresMs int64, err error)

func mskSigner(s registry.Config) mskToken {
	region, role, profile := s.String("region"), s.String("role_arn"), s.String("profile")
	return func(ctx context.Context) (string, int64, error) {
		switch {
		case role != "":
			return signer.GenerateAuthTokenFromRole(ctx, region, role, "")
		case profile != "":
			return signer.GenerateAuthTokenFromProfile(ctx, region, profile)
		default:
			return signer.GenerateAuthToken(ctx, region)
		}
	}
}

// mskTokens caches signed tokens and signs a new one tokenEarly before
// the last expires (they last 15 minutes).
func mskTokens(sign mskToken, region string) sarama.AccessTokenProvider {
	fetch := tokenSourceFunc(func() (*oauth2.Token, error) {
		ctx, cancel := context.WithTimeout(context.Background(), tokenTimeout)
		defer cancel()
		tok, expiresMs, err := sign(ctx)
		if err != nil {
			return nil, err
		}
		return &oauth2.Token{AccessToken: tok, Expiry: time.UnixMilli(expiresMs)}, nil
	})
	return oauthTokens{src: oauth2.ReuseTokenSourceWithExpiry(nil, fetch, tokenEarly),
		url: fmt.Sprintf("AWS MSK IAM signer (region %s)", region)}
}
