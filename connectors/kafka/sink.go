package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/cenkalti/backoff/v4"
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
	retries  int
	backoff  time.Duration

	hash    func(key []byte, n int32) int32 // partition of a key; nil: round_robin
	keyless atomic.Uint32                   // rotates the partition of keyless messages between writes

	failingMu sync.Mutex
	failing   map[topicPartition]bool // partitions whose last batch failed and may be retried

	connMu sync.Mutex
	conns  map[*sarama.Broker]uint64 // each broker connection's generation: bumped when a write closes it

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
		retries:  sc.Producer.Retry.Max, backoff: sc.Producer.Retry.Backoff,
		hash: keyHash(cfg.String("partitioner")),
	}
	// Replicas of a flow start on different partitions.
	s.keyless.Store(rand.Uint32())
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
	todo := make([]int, 0, len(msgs))
	for i, m := range msgs {
		if w.errs[i] != nil {
			continue
		}
		if err := toRecord(&w.recs[i], m, arena); err != nil {
			w.errs[i] = fmt.Errorf("message %s: %w", m.ID, err)
			continue
		}
		w.size[i] = recordSize(&w.recs[i])
		if w.size[i] > s.maxBytes {
			w.errs[i] = sarama.ConfigurationError(fmt.Sprintf(
				"Attempt to produce message larger than configured Producer.MaxMessageBytes (max_message_bytes): %d > %d", w.size[i], s.maxBytes))
			continue
		}
		todo = append(todo, i)
	}
	for attempt := 0; len(todo) > 0; attempt++ {
		retry, refresh, err := w.round(ctx, todo)
		if err != nil {
			break // ctx ended: what had no answer failed with it, the rest stands
		}
		if len(retry) == 0 || attempt >= s.retries {
			break
		}
		s.logger.Debug("kafka sink: retrying", "messages", len(retry), "attempt", attempt+1, "error", w.errs[retry[0]])
		if err := sleep(ctx, s.backoff); err != nil {
			for _, i := range retry {
				w.errs[i] = fmt.Errorf("retrying: %w (after %w)", err, w.errs[i])
			}
			break
		}
		if refresh {
			if err := s.client.RefreshMetadata(w.topicsOf(retry)...); err != nil {
				s.logger.Debug("kafka sink: metadata refresh failed", "error", err)
			}
		}
		slices.Sort(retry) // back in write order: answers came broker by broker
		todo = retry
	}
	return w.result()
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

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
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

// result is nil when every message was written, a *registry.WriteError
// naming the failed ones when some were, and an error wrapping the first
// failure when none was. When no failure can go away by sending again
// (a message too large, a reserved header, an error Kafka does not retry),
// the error is backoff.Permanent: the retry middleware leaves it alone.
func (w *write) result() error {
	var failed []int
	var first error
	permanent := true
	for i, err := range w.errs {
		if err != nil {
			failed = append(failed, i)
			permanent = permanent && !w.again[i]
			if first == nil {
				first = err
			}
		}
	}
	if len(failed) == 0 {
		return nil
	}
	err := fmt.Errorf("kafka sink %q: %d of %d messages not written: %w", w.s.name, len(failed), len(w.errs), first)
	if permanent {
		err = backoff.Permanent(err)
	}
	if len(failed) == len(w.errs) {
		return err
	}
	return &registry.WriteError{Failed: failed, Err: err}
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
	return s.client.Close()
}
