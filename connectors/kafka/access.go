package kafka

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// checkAccess reports an authorization failure for validate --connect:
// a topic the user may not see (brokers hide such topics from a full
// metadata answer, so it would look missing), or, for a source, a
// consumer group it may not use. READ and WRITE themselves can only be
// tried by consuming or producing, which the check does not do.
func checkAccess(client sarama.Client, sc *sarama.Config, topics []string, group, role string) error {
	who := "flowrun"
	if sc.Net.SASL.Enable && sc.Net.SASL.User != "" {
		who = fmt.Sprintf("user %q", sc.Net.SASL.User)
	}
	need := "WRITE"
	if role == "source" {
		need = "READ"
	}
	br := client.LeastLoadedBroker()
	if br == nil {
		return nil // the metadata read before found brokers; nothing more to ask
	}
	req := sarama.NewMetadataRequest(sc.Version, topics)
	req.AllowAutoTopicCreation = false // looking must not create
	resp, err := br.GetMetadata(req)
	if err != nil {
		return fmt.Errorf("kafka broker %s: reading topic metadata: %w", br.Addr(), err)
	}
	for _, tm := range resp.Topics {
		if errors.Is(tm.Err, sarama.ErrTopicAuthorizationFailed) {
			return fmt.Errorf("authorization failure: %s may not use topic %q (%w); ask the cluster's admin for DESCRIBE and %s on it", who, tm.Name, tm.Err, need)
		}
	}
	if group == "" {
		return nil
	}
	coord, err := client.Coordinator(group)
	if err == nil {
		var fetched *sarama.OffsetFetchResponse
		if fetched, err = coord.FetchOffset(sarama.NewOffsetFetchRequest(sc.Version, group, nil)); err == nil {
			err = groupError(fetched)
		}
	}
	// Only a refusal is reported: a group that does not exist yet is
	// normal, and other trouble shows when the source joins.
	if errors.Is(err, sarama.ErrGroupAuthorizationFailed) {
		return fmt.Errorf("authorization failure: %s may not use consumer group %q (%w); ask the cluster's admin for READ on the group, or set group to one you may use", who, group, err)
	}
	return nil
}

// groupError is the group-level error of an offset fetch answer.
func groupError(r *sarama.OffsetFetchResponse) error {
	if r.Err != sarama.ErrNoError {
		return r.Err
	}
	for _, g := range r.Groups {
		if g.Err != sarama.ErrNoError {
			return g.Err
		}
	}
	return nil
}
