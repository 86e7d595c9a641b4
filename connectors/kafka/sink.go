package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/connectors/internal/resend"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// sink writes each Write call as record batches, one per partition (more
// when max_message_bytes splits one), in one produce request per leader
// broker, sent with Sarama's Broker.AsyncProduce on one sarama.Client.
// Nothing runs between a Write and the connection: no goroutine or
// channel per message, as Sarama's AsyncProducer has (five hops per
// message, most of a Kafka-to-Kafka flow's producer cost). Writes follow
// one another on each broker connection; their responses come back on
// Sarama's receiver goroutine while later writes are sent.
type sink struct {
	topic   string   // the fixed topic, or "" with topicOf
	topicOf *topicOf // topic_expr, or nil
	name    string   // topic or topic_expr, for errors
	logger  *slog.Logger
	client  sarama.Client

	acks     sarama.RequiredAcks
	timeout  int32 // ms the broker may wait for replicas
	version  int16 // of produce requests
	codec    sarama.CompressionCodec
	level    int
	maxBytes int // of one record batch
	resend   resend.Policy

	hash    func(key []byte, n int32) int32 // partition of a key; nil: round_robin
	keyless atomic.Uint32                   // rotates the partition of keyless messages between writes

	failingMu sync.Mutex
	failing   map[topicPartition]bool // partitions whose last batch failed and may be retried

	connMu sync.Mutex
	conns  map[*sarama.Broker]uint64 // each broker connection's generation: bumped when a write closes it

	idem *idempotent // idempotent: true: Sarama's idempotent producer sends instead of round

	mu     sync.RWMutex // Write holds it shared to join writes; Close exclusively
	closed bool
	writes sync.WaitGroup // Write calls in progress
}

func newSink(_ context.Context, cfg registry.Config, env registry.Env) (*sink, error) {
	brokers, err := brokerList(cfg)
	if err != nil {
		return nil, err
	}
	sc, err := sinkConfig(cfg)
	if err != nil {
		return nil, err
	}
	if err := sinkTopics(cfg); err != nil {
		return nil, err
	}
	if cfg.Bool("idempotent") {
		if err := idempotentConfig(sc, cfg); err != nil {
			return nil, err
		}
	}
	topic, name := cfg.String("topic"), cfg.String("topic")
	var topicOf *topicOf
	if expr := cfg.Expr("topic_expr"); expr != nil {
		topicOf, name = newTopicOf(expr, env), expr.Source
	}
	version, err := produceVersion(sc.Version)
	if err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}
	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka sink: cannot reach brokers %v: %w", brokers, err)
	}
	s := &sink{
		topic: topic, topicOf: topicOf, name: name, client: client,
		logger:  env.LoggerOrDiscard().With("topic", name),
		acks:    sc.Producer.RequiredAcks,
		timeout: int32(sc.Producer.Timeout / time.Millisecond),
		version: version,
		codec:   sc.Producer.Compression, level: sc.Producer.CompressionLevel,
		maxBytes: sc.Producer.MaxMessageBytes,
		hash:     keyHash(cfg.String("partitioner")),
	}
	s.resend = resend.Policy{
		For: cfg.Duration("retry_for"), Initial: sc.Producer.Retry.Backoff, Max: max(2*time.Second, sc.Producer.Retry.Backoff),
		Resends: cfg.Int("retries"), Logger: s.logger, What: fmt.Sprintf("kafka sink %q", name),
	}
	if cfg.Has("retries") && cfg.Int("retries") == 0 {
		s.resend.For = 0 // retries: 0 sends once, as in Sarama
	}
	// Replicas of a flow start on different partitions.
	s.keyless.Store(rand.Uint32())
	if sc.Producer.Idempotent {
		if s.idem, err = newIdempotent(client); err != nil {
			_ = client.Close()
			return nil, fmt.Errorf("kafka sink %q: %w", name, err)
		}
	}
	return s, nil
}

// Write publishes msgs (Body as value, Key as key, Meta as headers) and
// returns nil once the brokers acknowledged every one of them. When only
// some failed for good, it returns a *registry.WriteError naming them.
func (s *sink) Write(ctx context.Context, msgs []*message.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return fmt.Errorf("kafka sink %q: closed", s.name)
	}
	s.writes.Add(1)
	s.mu.RUnlock()
	defer s.writes.Done()

	w := s.prepare(ctx, msgs)
	if s.idem != nil {
		return s.writeIdempotent(ctx, w)
	}
	refresh := false
	send := func(ctx context.Context, todo []int) {
		if refresh {
			if err := s.client.RefreshMetadata(w.topicsOf(todo)...); err != nil {
				s.logger.Debug("kafka sink: metadata refresh failed", "error", err)
			}
		}
		// When ctx ends mid-round, what had no answer failed with it (to be
		// sent again) and the answers that came stand.
		_, refresh, _ = w.round(ctx, todo)
		for _, i := range todo {
			if w.errs[i] != nil && !w.again[i] {
				w.errs[i] = resend.Permanent(w.errs[i])
			}
		}
	}
	return s.resend.Send(ctx, w.errs, send)
}

// prepare converts msgs into the records of one write: their topics,
// records, sizes, and the failures found before sending (a topic_expr
// that fails, the reserved header, a record above max_message_bytes),
// all permanent. Both ways of producing share it, so a record is the same
// bytes whichever sends it.
func (s *sink) prepare(ctx context.Context, msgs []*message.Message) *write {
	w := &write{
		s: s, now: time.Now().Truncate(time.Millisecond),
		recs: make([]sarama.Record, len(msgs)), size: make([]int, len(msgs)), topic: make([]string, len(msgs)),
		part: make([]int32, len(msgs)), errs: make([]error, len(msgs)), again: make([]bool, len(msgs)),
	}
	for i := range w.part {
		w.part[i] = -1
	}
	if s.topicOf != nil {
		s.topicOf.topics(ctx, msgs, w.topic, w.errs)
	} else {
		for i := range w.topic {
			w.topic[i] = s.topic
		}
	}
	arena := newRecordArena(msgs)
	for i, m := range msgs {
		if w.errs[i] != nil { // its topic could not be computed
			w.errs[i] = resend.Permanent(w.errs[i])
			continue
		}
		if err := toRecord(&w.recs[i], m, arena); err != nil {
			w.errs[i] = resend.Permanent(fmt.Errorf("message %s: %w", m.ID, err))
			continue
		}
		w.size[i] = recordSize(&w.recs[i])
		if w.size[i] > s.maxBytes {
			w.errs[i] = resend.Permanent(sarama.ConfigurationError(fmt.Sprintf(
				"Attempt to produce message larger than configured Producer.MaxMessageBytes (max_message_bytes): %d > %d", w.size[i], s.maxBytes)))
		}
	}
	return w
}

// topicsOf is the distinct topics of records idx.
func (w *write) topicsOf(idx []int) []string {
	seen := map[string]bool{}
	var out []string
	for _, i := range idx {
		if t := w.topic[i]; !seen[t] {
			seen[t] = true
			out = append(out, t)
		}
	}
	return out
}

// write is the state of one Write call, indexed like its messages.
type write struct {
	s     *sink
	now   time.Time // the records' timestamp
	recs  []sarama.Record
	topic []string // of each record
	size  []int    // recordSize
	part  []int32  // chosen partition; -1 until assigned
	errs  []error  // nil: written (or not tried yet)
	again []bool   // errs[i] may go away if the record is sent again
}

// Close waits for the writes in progress, then closes the client.
func (s *sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.writes.Wait()
	if s.idem != nil {
		s.idem.close()
	}
	return s.client.Close()
}
