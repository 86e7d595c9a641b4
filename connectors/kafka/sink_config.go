package kafka

import (
	"fmt"

	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/registry"
)

func sinkConfig(cfg registry.Config) (*sarama.Config, error) {
	sc, err := baseConfig(cfg)
	if err != nil {
		return nil, err
	}
	switch cfg.String("acks") {
	case "leader":
		sc.Producer.RequiredAcks = sarama.WaitForLocal
	case "none":
		sc.Producer.RequiredAcks = sarama.NoResponse
	default:
		sc.Producer.RequiredAcks = sarama.WaitForAll
	}
	switch cfg.String("compression") {
	case "gzip":
		sc.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		sc.Producer.Compression = sarama.CompressionSnappy
	case "lz4":
		sc.Producer.Compression = sarama.CompressionLZ4
	case "zstd":
		sc.Producer.Compression = sarama.CompressionZSTD
		if !sc.Version.IsAtLeast(sarama.V2_1_0_0) {
			sc.Version = sarama.V2_1_0_0
		}
	}
	if n := cfg.Int("max_message_bytes"); n > 0 {
		sc.Producer.MaxMessageBytes = n
	}
	if cfg.Has("retries") {
		sc.Producer.Retry.Max = cfg.Int("retries")
	}
	if d := cfg.Duration("retry_backoff"); d > 0 {
		sc.Producer.Retry.Backoff = d
	}
	return sc, nil
}

// produceVersion is the produce request version Sarama's AsyncProducer
// sends for a configured Kafka version (produceSet.buildRequest). The
// sink writes record batches (v2), which Kafka reads since 0.11.
func produceVersion(v sarama.KafkaVersion) (int16, error) {
	switch {
	case v.IsAtLeast(sarama.V2_4_0_0):
		return 8, nil
	case v.IsAtLeast(sarama.V2_1_0_0):
		return 7, nil
	case v.IsAtLeast(sarama.V2_0_0_0):
		return 6, nil
	case v.IsAtLeast(sarama.V1_0_0_0):
		return 5, nil
	case v.IsAtLeast(sarama.V0_11_0_0):
		return 3, nil
	}
	return 0, fmt.Errorf("the kafka sink writes record batches, which need Kafka 0.11.0 or later (version is %s)", v)
}
