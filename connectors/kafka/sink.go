package kafka

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// sink publishes through one Sarama AsyncProducer shared by every Write:
// many writes and many batches are in flight at once, and each Write
// returns when the brokers acknowledged (or refused) all of its messages.
type sink struct {
	topic    string
	logger   *slog.Logger
	producer sarama.AsyncProducer
	wg       sync.WaitGroup // the two result loops

	mu     sync.RWMutex // Write holds it shared while sending; Close exclusively
	closed bool
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
	topic := cfg.String("topic")
	if topic == "" {
		return nil, fmt.Errorf("topic: no topic to write to")
	}
	producer, err := sarama.NewAsyncProducer(brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka sink: cannot reach brokers %v: %w", brokers, err)
	}
	s := &sink{
		topic: topic, producer: producer,
		logger: loggerOf(env).With("topic", topic),
	}
	s.wg.Add(2)
	go func() {
		defer s.wg.Done()
		for pm := range producer.Successes() {
			pm.Metadata.(*pendingWrite).settle(nil)
		}
	}()
	go func() {
		defer s.wg.Done()
		for pe := range producer.Errors() {
			pe.Msg.Metadata.(*pendingWrite).settle(pe.Err)
		}
	}()
	return s, nil
}

func sinkConfig(cfg registry.Config) (*sarama.Config, error) {
	sc, err := baseConfig(cfg)
	if err != nil {
		return nil, err
	}
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
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

// pendingWrite is one Write call: it counts the messages the producer
// has not reported on yet and keeps the first error.
type pendingWrite struct {
	remaining atomic.Int64
	failed    atomic.Int64
	mu        sync.Mutex
	first     error
	done      chan struct{}
}

func newPendingWrite(n int) *pendingWrite {
	w := &pendingWrite{done: make(chan struct{})}
	w.remaining.Store(int64(n))
	return w
}

// settle reports n messages, failed when err is set.
func (w *pendingWrite) settleN(n int, err error) {
	if err != nil {
		w.failed.Add(int64(n))
		w.mu.Lock()
		if w.first == nil {
			w.first = err
		}
		w.mu.Unlock()
	}
	if w.remaining.Add(-int64(n)) == 0 {
		close(w.done)
	}
}

func (w *pendingWrite) settle(err error) { w.settleN(1, err) }

// Write publishes msgs (Body as value, Key as key, Meta as headers) and
// returns nil once the brokers acknowledged every one of them.
func (s *sink) Write(ctx context.Context, msgs []*message.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	w := newPendingWrite(len(msgs))
	records := make([]*sarama.ProducerMessage, len(msgs))
	for i, m := range msgs {
		pm, err := toRecord(s.topic, m)
		if err != nil {
			return fmt.Errorf("kafka sink %q: message %s: %w", s.topic, m.ID, err)
		}
		pm.Metadata = w
		records[i] = pm
	}
	if err := s.send(ctx, w, records); err != nil {
		return err
	}
	// Queued in order: the runtime may hand over the next write while
	// this one waits for the brokers.
	registry.Sent(ctx)
	select {
	case <-w.done:
	case <-ctx.Done():
		return fmt.Errorf("kafka sink %q: waiting for the brokers: %w", s.topic, ctx.Err())
	}
	if failed := w.failed.Load(); failed > 0 {
		w.mu.Lock()
		first := w.first
		w.mu.Unlock()
		return fmt.Errorf("kafka sink %q: %d of %d messages not written: %w", s.topic, failed, len(msgs), first)
	}
	return nil
}

func (s *sink) send(ctx context.Context, w *pendingWrite, records []*sarama.ProducerMessage) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("kafka sink %q: closed", s.topic)
	}
	for i, pm := range records {
		select {
		case s.producer.Input() <- pm:
		case <-ctx.Done():
			w.settleN(len(records)-i, ctx.Err()) // what was sent still settles, unobserved
			return fmt.Errorf("kafka sink %q: sending: %w", s.topic, ctx.Err())
		}
	}
	return nil
}

// Close waits for what is in flight, then stops the producer.
func (s *sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	// AsyncClose flushes what is in flight and then closes Successes and
	// Errors; the result loops settle every write until then (Close
	// would consume those channels itself and strand waiting writers).
	s.producer.AsyncClose()
	s.wg.Wait()
	return nil
}
