package kafka

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/connectors/internal/inflight"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/prometheus/client_golang/prometheus"
)

// source reads a consumer group's partitions into one bounded buffer.
// Records convert as watermill-kafka's DefaultMarshaler does (convert.go).
// Each partition is read by Sarama in its own goroutine (ConsumeClaim);
// Read hands out up to len(buf) of what is buffered. Many messages of one
// partition can be in flight and acked in any order: the committed
// offset is the per-partition watermark (see partitionClaim).
//
// Nack: the message stays below the watermark and is handed out again
// by Read after redelivery_delay, doubled at each nack of the same
// message up to redelivery_max_delay, in this process, unless its
// partition moved to another member meanwhile (the new owner reads it
// again from the committed offset). Either way it is redelivered: at
// least once. The runtime nacks only failures a new attempt may fix.
type source struct {
	flow     string
	topics   []string
	logger   *slog.Logger
	client   sarama.Client
	group    sarama.ConsumerGroup
	handler  *groupHandler
	lag      *prometheus.GaugeVec
	window   int           // tracked offsets per partition
	drainFor time.Duration // how long a rebalance waits for in-flight messages

	buffered chan []*message.Message // batches read from Kafka, not yet handed out
	ready    atomic.Int64            // messages in buffered and pending (what tests wait for)
	readMu   sync.Mutex              // Read's own: pending
	pending  []*message.Message      // the rest of the batch Read took last
	retry    *redeliveries

	ctx    context.Context // ends the consume loop
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

func newSource(_ context.Context, cfg registry.Config, env registry.Env) (*source, error) {
	topics, err := sourceTopics(cfg)
	if err != nil {
		return nil, err
	}
	brokers, err := brokerList(cfg)
	if err != nil {
		return nil, err
	}
	sc, err := sourceConfig(cfg, env)
	if err != nil {
		return nil, err
	}
	group := cfg.String("group")
	if group == "" {
		group = env.Flow
	}
	if group == "" {
		return nil, fmt.Errorf("group: no consumer group; set group (or give the flow a name)")
	}
	lag, err := lagGauge(env.Metrics)
	if err != nil {
		return nil, err
	}
	client, err := newClient(brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka source: cannot reach brokers %v: %w", brokers, err)
	}
	cg, err := sarama.NewConsumerGroupFromClient(group, client)
	if err != nil {
		return nil, errors.Join(fmt.Errorf("kafka source: consumer group %q: %w", group, err), client.Close())
	}
	size := bufferSize(env)
	s := &source{
		flow: env.Flow, topics: topics, logger: env.LoggerOrDiscard().With("group", group),
		client: client, group: cg, lag: lag,
		window:   max(4*size, 1024),
		drainFor: sc.Consumer.Group.Rebalance.Timeout / 2,
		buffered: make(chan []*message.Message, max(size/readBatch, 1)),
		retry: newRedeliveries(inflight.NewRedelivery(env, cfg.Duration("redelivery_delay"),
			cfg.Duration("redelivery_max_delay"))),
	}
	s.handler = &groupHandler{s: s}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(2)
	go s.consume()
	go s.logErrors()
	return s, nil
}

// consume runs group sessions until Close: each rebalance ends one
// session and Consume is called again for the next.
func (s *source) consume() {
	defer s.wg.Done()
	for s.ctx.Err() == nil {
		err := s.group.Consume(s.ctx, s.topics, s.handler)
		switch {
		case errors.Is(err, sarama.ErrClosedConsumerGroup) || s.ctx.Err() != nil:
			return
		case err != nil:
			s.logger.Error("kafka consumer group session failed; retrying", "topics", s.topics, "err", err)
			select {
			case <-time.After(time.Second):
			case <-s.ctx.Done():
				return
			}
		}
	}
}

// logErrors logs what brokers refuse (an unacceptable session timeout,
// a missing topic...), which would otherwise look like silence.
func (s *source) logErrors() {
	defer s.wg.Done()
	for err := range s.group.Errors() {
		s.logger.Error("kafka consumer error", "err", err)
	}
}

// hand queues a batch for Read; false when ctx ended first.
func (s *source) hand(ctx context.Context, batch []*message.Message) bool {
	s.ready.Add(int64(len(batch)))
	select {
	case s.buffered <- batch:
		return true
	case <-ctx.Done():
		s.ready.Add(-int64(len(batch)))
		return false
	}
}

// Read blocks until a message is available, then fills buf with what is
// ready, up to len(buf).
func (s *source) Read(ctx context.Context, buf []*message.Message) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	s.readMu.Lock()
	defer s.readMu.Unlock()
	n := s.retry.take(buf, time.Now())
	n += s.takePending(buf[n:])
	for n == 0 {
		var timer *time.Timer
		var timeout <-chan time.Time
		if wait, ok := s.retry.next(time.Now()); ok {
			timer = time.NewTimer(wait)
			timeout = timer.C
		}
		select {
		case batch := <-s.buffered:
			s.pending = batch
			n += s.takePending(buf[n:])
		case <-s.retry.wake:
		case <-timeout:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-s.ctx.Done():
			return 0, registry.ErrSourceClosed
		}
		if timer != nil {
			timer.Stop()
		}
		n += s.retry.take(buf[n:], time.Now())
	}
	for n < len(buf) { // pending is empty: buf would be full otherwise
		select {
		case batch := <-s.buffered:
			s.pending = batch
			n += s.takePending(buf[n:])
		default:
			return n, nil
		}
	}
	return n, nil
}

// takePending hands out pending messages into buf; those of partitions
// being revoked are dropped (their next owner reads them again).
func (s *source) takePending(buf []*message.Message) int {
	n, taken := 0, 0
	for taken < len(s.pending) && n < len(buf) {
		m := s.pending[taken]
		s.pending[taken] = nil
		taken++
		if s.handOut(m) {
			buf[n] = m
			n++
		}
	}
	s.pending = s.pending[taken:]
	s.ready.Add(-int64(taken))
	return n
}

func (s *source) handOut(m *message.Message) bool {
	c, ok := m.Ref.(*partitionClaim)
	return ok && c.handOut(m.Offset)
}

// Ack moves the partition's watermark when m was the oldest message in flight.
func (s *source) Ack(m *message.Message) {
	if c, ok := m.Ref.(*partitionClaim); ok {
		c.ack(m.Offset)
		s.retry.policy.Acked(func() string { return offsetKey(m) })
	}
}

// offsetKey names a record for the redelivery backoff.
func offsetKey(m *message.Message) string {
	return m.Topic + "/" + strconv.Itoa(int(m.Partition)) + "/" + strconv.FormatInt(m.Offset, 10)
}

// Nack keeps the watermark below m and delivers m again after the
// redelivery delay (see the type's comment).
func (s *source) Nack(m *message.Message, err error) {
	c, ok := m.Ref.(*partitionClaim)
	if !ok {
		return
	}
	if !c.nack(m.Offset) {
		s.logger.Warn("kafka message nacked; its partition moved to another member, which reads it again",
			"topic", m.Topic, "partition", m.Partition, "offset", m.Offset, "err", err)
		return
	}
	delay := s.retry.policy.Nacked(offsetKey(m), err, "topic", m.Topic, "partition", m.Partition, "offset", m.Offset)
	again := m.AsRead() // not the key and headers stages changed
	again.Ref = c
	s.retry.add(again, time.Now().Add(delay))
}

// Close leaves the group: the last session commits what was acked.
// The flow has settled what it will settle before calling Close, so
// the final session does not wait for in-flight messages.
func (s *source) Close() error {
	var err error
	s.once.Do(func() {
		s.cancel()
		err = s.group.Close()
		s.wg.Wait()
		s.retry.close()
		if cerr := s.client.Close(); cerr != nil && !errors.Is(cerr, sarama.ErrClosedClient) {
			err = errors.Join(err, cerr)
		}
	})
	if err != nil {
		return fmt.Errorf("kafka source close: %w", err)
	}
	return nil
}

// OrderedByPartition asks the runtime to keep each partition on one
// processor, so messages of a partition are handled in offset order.
func (s *source) OrderedByPartition() bool { return true }
