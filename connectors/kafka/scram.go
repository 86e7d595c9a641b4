package kafka

import (
	"github.com/IBM/sarama"
	"github.com/xdg-go/scram"
)

// Sarama speaks SCRAM's Kafka framing but leaves the SCRAM exchange
// itself (RFC 5802: nonces, salted hashes, server signature check) to a
// client it is given. xdg-go/scram is the implementation Sarama's own
// examples, segmentio/kafka-go and the MongoDB driver use, so it is
// well reviewed, and small (one more module, stringprep).
var (
	sha256 = scram.SHA256
	sha512 = scram.SHA512
)

func newSCRAMClient(hash scram.HashGeneratorFcn) func() sarama.SCRAMClient {
	return func() sarama.SCRAMClient { return &scramClient{hash: hash} }
}

type scramClient struct {
	hash scram.HashGeneratorFcn
	conv *scram.ClientConversation
}

func (c *scramClient) Begin(user, password, authzID string) error {
	client, err := c.hash.NewClient(user, password, authzID)
	if err != nil {
		return err
	}
	c.conv = client.NewConversation()
	return nil
}

func (c *scramClient) Step(challenge string) (string, error) { return c.conv.Step(challenge) }

func (c *scramClient) Done() bool { return c.conv.Done() }
