package amqp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

// retryFor bounds how long one Write keeps publishing again while the
// broker is unreachable or restarting, before it reports the failure.
const retryFor = 30 * time.Second

// round is the most messages published on one channel before waiting
// for their confirms; it bounds the channel's return buffer.
const round = 1024

// pubChannel is a channel in confirm mode used by one Write at a time,
// so the messages the broker returns (unroutable) are exactly its own.
type pubChannel struct {
	conn    *amqp.Connection
	ch      *amqp.Channel
	returns chan amqp.Return
}

// sink publishes persistent messages with publisher confirms (and
// mandatory, so an unroutable message is an error, not a silent drop);
// Write returns once the broker confirmed every message.
type sink struct {
	cfg              registry.Config
	env              registry.Env
	exchange, target string // target: queue, or fixed routing key
	logger           *slog.Logger

	mu     sync.Mutex // guards conn, idle and closed
	conn   *amqp.Connection
	idle   []*pubChannel
	closed bool
	busy   sync.WaitGroup // Writes in progress
}

func newSink(_ context.Context, cfg registry.Config, env registry.Env) (*sink, error) {
	queue, exchange := cfg.String("queue"), cfg.String("exchange")
	switch {
	case queue == "" && exchange == "":
		return nil, fmt.Errorf("amqp sink: set queue (publish to a queue) or exchange (publish to an exchange)")
	case queue != "" && exchange != "":
		return nil, fmt.Errorf("amqp sink: set queue or exchange, not both (bind the queue to the exchange instead)")
	}
	s := &sink{cfg: cfg, env: env, exchange: exchange, target: queue,
		logger: env.LoggerOrDiscard().With("connector", "amqp", "queue", queue, "exchange", exchange, "role", env.Role)}
	if exchange != "" {
		s.target = cfg.String("routing_key")
	}
	// Connect (and declare the queue) now, so a wrong url or queue fails
	// at start with a clear message.
	pc, err := s.get()
	if err != nil {
		return nil, err
	}
	s.put(pc)
	return s, nil
}

// get takes an idle channel of the live connection or opens one,
// reconnecting when the connection is gone.
func (s *sink) get() (*pubChannel, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, errors.New("amqp sink: closed")
	}
	for len(s.idle) > 0 {
		pc := s.idle[len(s.idle)-1]
		s.idle = s.idle[:len(s.idle)-1]
		if !pc.conn.IsClosed() && !pc.ch.IsClosed() {
			return pc, nil
		}
	}
	if s.conn == nil || s.conn.IsClosed() {
		conn, err := dial(s.cfg, s.env)
		if err != nil {
			return nil, err
		}
		s.conn = conn
	}
	ch, err := s.conn.Channel()
	if err != nil {
		return nil, fmt.Errorf("amqp sink: opening a channel: %w", err)
	}
	if s.exchange == "" {
		if err := declareQueue(ch, s.target, s.cfg.Bool("declare")); err != nil {
			_ = ch.Close()
			return nil, fmt.Errorf("amqp sink: %w", err)
		}
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("amqp sink: confirm mode: %w", err)
	}
	pc := &pubChannel{conn: s.conn, ch: ch, returns: ch.NotifyReturn(make(chan amqp.Return, round+1))}
	return pc, nil
}

func (s *sink) put(pc *pubChannel) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed || pc.ch.IsClosed() {
		_ = pc.ch.Close()
		return
	}
	s.idle = append(s.idle, pc)
}

// Write publishes msgs and returns nil once every one is confirmed.
// Messages not confirmed (broker restarting) are published again, for
// up to retryFor within ctx.
func (s *sink) Write(ctx context.Context, msgs []*message.Message) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("amqp sink: closed")
	}
	s.busy.Add(1)
	s.mu.Unlock()
	defer s.busy.Done()

	pending := make([]amqp.Publishing, len(msgs))
	for i, m := range msgs {
		p, err := toPublishing(m, uuid.NewString())
		if err != nil {
			return fmt.Errorf("amqp sink: message %s: %w", m.ID, err)
		}
		pending[i] = p
	}
	deadline := time.Now().Add(retryFor)
	wait := 100 * time.Millisecond
	for len(pending) > 0 {
		n := min(len(pending), round)
		failed, err := s.publish(ctx, pending[:n])
		if err == nil {
			pending = pending[n:]
			continue
		}
		if errors.Is(err, errUnroutable) || ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("amqp sink: %d of %d messages not confirmed: %w", len(failed)+len(pending)-n, len(msgs), err)
		}
		s.logger.Warn("amqp publish not confirmed; sending again", "failed", len(failed), "err", err, "backoff", wait)
		select {
		case <-time.After(wait):
			wait = min(2*wait, 2*time.Second)
		case <-ctx.Done():
			return fmt.Errorf("amqp sink: %d of %d messages not confirmed: %w", len(failed)+len(pending)-n, len(msgs), errors.Join(err, ctx.Err()))
		}
		pending = append(failed, pending[n:]...)
	}
	return nil
}

var errUnroutable = errors.New("unroutable: the broker returned it (no queue bound for this routing key)")

// publish sends one round on one channel and waits for the confirms.
func (s *sink) publish(ctx context.Context, msgs []amqp.Publishing) ([]amqp.Publishing, error) {
	pc, err := s.get()
	if err != nil {
		return msgs, err
	}
	defer s.put(pc)
	confirms := make([]*amqp.DeferredConfirmation, 0, len(msgs))
	for i := range msgs {
		key := s.target
		if s.exchange != "" && key == "" {
			key, _ = msgs[i].Headers[keyHeader].(string)
		}
		dc, err := pc.ch.PublishWithDeferredConfirmWithContext(ctx, s.exchange, key, true, false, msgs[i])
		if err != nil {
			return msgs, fmt.Errorf("publish: %w", err)
		}
		confirms = append(confirms, dc)
	}
	var failed []amqp.Publishing
	var first error
	for i, dc := range confirms {
		acked, err := dc.WaitContext(ctx)
		switch {
		case err != nil:
			return append(failed, msgs[i:]...), errors.Join(first, err)
		case !acked:
			failed = append(failed, msgs[i])
			first = cmp(first, errors.New("the broker refused the message (nack)"))
		}
	}
	// A return comes before the confirm of the same message.
	returned := map[string]bool{}
	for len(pc.returns) > 0 {
		returned[(<-pc.returns).MessageId] = true
	}
	for i := range msgs {
		if returned[msgs[i].MessageId] {
			return []amqp.Publishing{msgs[i]}, errUnroutable
		}
	}
	return failed, first
}

func cmp(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// Close waits for Writes in progress and closes the connection.
func (s *sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.busy.Wait()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, pc := range s.idle {
		_ = pc.ch.Close()
	}
	s.idle = nil
	if s.conn != nil && !s.conn.IsClosed() {
		if err := s.conn.Close(); err != nil {
			return fmt.Errorf("amqp sink: close: %w", err)
		}
	}
	return nil
}
