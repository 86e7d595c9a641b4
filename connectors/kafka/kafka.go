// Package kafka is the `kafka` connector: a consumer-group source that
// lets many messages of a partition be in flight and commits only the
// offset below which everything is acked, a sink that writes each call as
// per-partition record batches, and the same sink as a dead letter. It
// speaks Kafka through Sarama and keeps watermill-kafka's message
// conventions (headers <-> metadata, the watermill UUID header), so
// flowrun and watermill programs interoperate.
//
// TLS (tls.go) and SASL PLAIN, SCRAM and OAUTHBEARER (sasl.go) apply to
// every connection: source, sink, dead letter and validate --connect.
package kafka

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/connectors/internal/inflight"
	"github.com/flowrun/flowrun/connectors/internal/resend"
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/registry"
	"github.com/rcrowley/go-metrics"
)

// minSessionTimeout is the smallest group session Kafka (and kfake)
// accepts by default (group.min.session.timeout.ms); a shorter one is
// refused at join time, which looks like a consumer that never starts.
const minSessionTimeout = 6 * time.Second

func init() {
	// Sarama feeds go-metrics histograms on every request and batch
	// (~1% of a Kafka flow's CPU); flowrun exports its own metrics and
	// never reads them. Sarama documents this switch for turning them off.
	metrics.UseNilMetrics = true
	registry.RegisterConnector(&registry.ConnectorSpec{
		Name:         "kafka",
		Summary:      "Apache Kafka topics, through a consumer group (source) and a batching producer (sink, dead letter)",
		SourceFields: sourceFields,
		Redelivers:   true,
		SinkFields:   sinkFields,
		Source: func(ctx context.Context, cfg registry.Config, env registry.Env) (registry.Source, error) {
			return newSource(ctx, cfg, env)
		},
		Sink: func(ctx context.Context, cfg registry.Config, env registry.Env) (registry.Sink, error) {
			return newSink(ctx, cfg, env)
		},
		Check: check,
		ValidateSink: func(cfg registry.Config) error {
			if err := sinkTopics(cfg); err != nil {
				return err
			}
			if err := checkSecurity(cfg); err != nil {
				return err
			}
			if err := checkIdempotent(cfg); err != nil {
				return err
			}
			// A version that does not parse is reported when the sink starts.
			if sc, err := sinkConfig(cfg); err == nil {
				if _, err := produceVersion(sc.Version); err != nil {
					return registry.At(err, "version")
				}
			}
			return nil
		},
		ValidateSource: func(cfg registry.Config) error {
			if err := checkSecurity(cfg); err != nil {
				return err
			}
			if _, err := sourceTopics(cfg); err != nil {
				return registry.At(err, "topic")
			}
			if s, h := cfg.Duration("session_timeout"), cfg.Duration("heartbeat_interval"); h >= s {
				return registry.At(fmt.Errorf("heartbeat_interval %s must be below session_timeout (%s); a third of it is usual", h, s), "heartbeat_interval")
			}
			return nil
		},
	})
}

var commonFields = []registry.Field{
	{Name: "brokers", Type: registry.List, Required: true, Elem: &registry.Field{Type: registry.String},
		Doc: `bootstrap brokers as host:port; an entry may hold several separated by commas, so "${KAFKA_BROKERS:-127.0.0.1:9092}" works`},
	{Name: "client_id", Type: registry.String, Default: "flowrun", Doc: "client id the brokers see in their logs and quotas"},
	{Name: "version", Type: registry.String,
		Doc: "Kafka protocol version to speak, e.g. 3.6.0 (default: Sarama's default, which every Kafka since 2.1 accepts)"},
	tlsField,
	saslField,
}

var sourceFields = append(append([]registry.Field{}, commonFields...),
	registry.Field{Name: "topic", Type: registry.String, Target: true, Doc: "the topic to read (or use topics)"},
	registry.Field{Name: "topics", Type: registry.List, Target: true, Elem: &registry.Field{Type: registry.String},
		Doc: "several topics to read (instead of topic)"},
	registry.Field{Name: "group", Type: registry.String,
		Doc: "consumer group id; replicas with the same group share the partitions (default: the flow's name)"},
	registry.Field{Name: "start", Type: registry.String, Default: "oldest", Enum: []string{"oldest", "newest"},
		Doc: "where a group without a committed offset starts"},
	registry.Field{Name: "session_timeout", Type: registry.Duration, Default: 10 * time.Second, Min: registry.F(minSessionTimeout.Seconds()),
		Doc: "how long the group waits for a silent member before moving its partitions to others; brokers refuse less than 6s"},
	registry.Field{Name: "heartbeat_interval", Type: registry.Duration, Default: 3 * time.Second, Min: registry.F(0.001),
		Doc: "how often a member tells the group it is alive; keep it below a third of session_timeout"},
	registry.Field{Name: "rebalance_timeout", Type: registry.Duration, Default: 60 * time.Second, Min: registry.F(1),
		Doc: "how long members have to finish their in-flight messages when partitions move"},
	registry.Field{Name: "rebalance_strategy", Type: registry.String, Default: "range", Enum: []string{"range", "roundrobin", "sticky"},
		Doc: "how the group leader spreads partitions over members"},
	registry.Field{Name: "commit_interval", Type: registry.Duration, Default: time.Second, Min: registry.F(0.001),
		Doc: "how often acknowledged offsets are committed (a crash redelivers at most this much)"},
	registry.Field{Name: "redelivery_delay", Type: registry.Duration, Default: 100 * time.Millisecond,
		Doc: "wait before a nacked message is delivered again; doubled at each nack of the same message, up to redelivery_max_delay"},
	registry.Field{Name: "redelivery_max_delay", Type: registry.Duration, Default: inflight.DefaultRedeliveryMaxDelay,
		Doc: "longest wait before a message nacked again and again is delivered again (flowrun_source_redeliveries_waiting counts those waiting)"},
)

var sinkFields = append(append([]registry.Field{}, commonFields...),
	registry.Field{Name: "topic", Type: registry.String, Target: true,
		Doc: "the topic to write to, a fixed name (or use topic_expr)"},
	registry.Field{Name: "topic_expr", Type: registry.Expr, Target: true, Scope: expression.MessageScope,
		Doc: `an expression giving each message's topic, e.g. '"orders." + payload.region' (instead of topic); a message whose topic cannot be computed or is not a valid topic name fails on its own`},
	registry.Field{Name: "partitioner", Type: registry.String, Default: "murmur2", Enum: []string{"murmur2", "fnv1a", "round_robin"},
		Doc: "which partition a record goes to. murmur2: a keyed record where Kafka's Java client (and Kafka Streams, ksqlDB, librdkafka's murmur2) puts its key; fnv1a: where Sarama's hash partitioner and watermill-kafka put it (flowrun's partitioning before murmur2 became the default); both send the keyless messages of one write to one partition, the next write to the next. round_robin: every record to the next partition, keys ignored"},
	registry.Field{Name: "acks", Type: registry.String, Default: "all", Enum: []string{"all", "leader", "none"},
		Doc: "which replicas must have a message before it counts as written (none risks losing messages)"},
	registry.Field{Name: "compression", Type: registry.String, Default: "none", Enum: []string{"none", "gzip", "snappy", "lz4", "zstd"},
		Doc: "compression of produced batches"},
	registry.Field{Name: "max_message_bytes", Type: registry.Size, Default: 1000000, Min: registry.F(1),
		Doc: "largest record batch the sink sends; keep it at most the topic's max.message.bytes. A single larger message fails on its own (to the dead letter)"},
	registry.Field{Name: "idempotent", Type: registry.Bool, Default: false,
		Doc: "produce through Sarama's idempotent producer (producer id and sequence numbers): its own retries within retry_for write no duplicates; needs acks: all and Kafka 0.11, and sends slower than the default path (see docs/kafka.md)"},
	resend.Field,
	registry.Field{Name: "retries", Type: registry.Int, Min: registry.F(0),
		Doc: "when set, also caps how often one write sends again, within retry_for, the records refused with a transient broker error (leader moving, replicas short, a timeout) or lost with their connection (Sarama's Producer.Retry.Max); unset: as often as retry_for allows"},
	registry.Field{Name: "retry_backoff", Type: registry.Duration, Default: 250 * time.Millisecond,
		Doc: "first wait before records are sent again; it doubles up to 2s (or stays at retry_backoff when that is longer)"},
)

// brokerList flattens the brokers field: entries may hold several
// comma-separated addresses (as an environment variable usually does).
func brokerList(cfg registry.Config) ([]string, error) {
	var out []string
	for _, entry := range cfg.Strings("brokers") {
		for _, b := range strings.Split(entry, ",") {
			if b = strings.TrimSpace(b); b != "" {
				out = append(out, b)
			}
		}
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("brokers: no broker address given; list at least one host:port, e.g. brokers: [\"127.0.0.1:9092\"]")
	}
	return out, nil
}

// baseConfig is the Sarama configuration shared by sources, sinks and checks.
func baseConfig(cfg registry.Config) (*sarama.Config, error) {
	sc := sarama.NewConfig()
	sc.ClientID = cfg.String("client_id")
	if sc.ClientID == "" {
		sc.ClientID = "flowrun"
	}
	if v := cfg.String("version"); v != "" {
		ver, err := sarama.ParseKafkaVersion(v)
		if err != nil {
			return nil, fmt.Errorf("version: %w; write it like 3.6.0", err)
		}
		sc.Version = ver
	}
	if err := applyTLS(sc, cfg); err != nil {
		return nil, err
	}
	if err := applySASL(sc, cfg); err != nil {
		return nil, err
	}
	return sc, nil
}

// checkSecurity reports at validate time what tls and sasl would fail
// with at start: a missing CA file, a mechanism without its password.
func checkSecurity(cfg registry.Config) error {
	sc := sarama.NewConfig()
	if err := applyTLS(sc, cfg); err != nil {
		return err
	}
	return applySASL(sc, cfg)
}

// sourceTopics returns topic or topics, exactly one of them.
func sourceTopics(cfg registry.Config) ([]string, error) {
	topic, topics := cfg.String("topic"), cfg.Strings("topics")
	switch {
	case topic != "" && len(topics) > 0:
		return nil, fmt.Errorf("topic and topics are both set; keep one")
	case topic != "":
		return []string{topic}, nil
	case len(topics) > 0:
		return topics, nil
	}
	return nil, fmt.Errorf("no topic: set topic (one topic) or topics (a list)")
}

// sourceConfig builds the Sarama consumer-group configuration.
func sourceConfig(cfg registry.Config, env registry.Env) (*sarama.Config, error) {
	sc, err := baseConfig(cfg)
	if err != nil {
		return nil, err
	}
	session, heartbeat := cfg.Duration("session_timeout"), cfg.Duration("heartbeat_interval")
	if session < minSessionTimeout {
		return nil, fmt.Errorf("session_timeout: %s is shorter than the 6s Kafka brokers accept; they would refuse to let the group join (use 6s or more)", session)
	}
	if heartbeat <= 0 || heartbeat >= session {
		return nil, fmt.Errorf("heartbeat_interval: %s must be above 0 and below session_timeout (%s); a third of it is usual", heartbeat, session)
	}
	sc.Consumer.Group.Session.Timeout = session
	sc.Consumer.Group.Heartbeat.Interval = heartbeat
	if d := cfg.Duration("rebalance_timeout"); d > 0 {
		sc.Consumer.Group.Rebalance.Timeout = d
	}
	switch cfg.String("rebalance_strategy") {
	case "roundrobin":
		sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRoundRobin()}
	case "sticky":
		sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategySticky()}
	default:
		sc.Consumer.Group.Rebalance.GroupStrategies = []sarama.BalanceStrategy{sarama.NewBalanceStrategyRange()}
	}
	// Records of aborted transactions are not the topic's data.
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Consumer.Offsets.Initial = sarama.OffsetOldest
	if cfg.String("start") == "newest" {
		sc.Consumer.Offsets.Initial = sarama.OffsetNewest
	}
	// Auto-commit stays on: Ack only marks offsets, Sarama commits them
	// in the background (a synchronous commit per message is ~800 msgs/s).
	sc.Consumer.Offsets.AutoCommit.Enable = true
	if d := cfg.Duration("commit_interval"); d > 0 {
		sc.Consumer.Offsets.AutoCommit.Interval = d
	}
	sc.Consumer.Return.Errors = true
	// Sarama buffers this many messages per partition: bounded by what the
	// flow may hold, so a fast broker cannot fill memory.
	sc.ChannelBufferSize = min(bufferSize(env), 256)
	return sc, nil
}

// bufferSize is how many messages the source holds ready for Read.
func bufferSize(env registry.Env) int {
	return max(env.MaxInFlight, 64)
}
