package amqp

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/flowrun/flowrun/connectors/internal/resend"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

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
	resend           resend.Policy

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
	logger := env.LoggerOrDiscard().With("connector", "amqp", "queue", queue, "exchange", exchange, "role", env.Role)
	s := &sink{cfg: cfg, env: env, exchange: exchange, target: queue, resend: resend.Of(cfg, logger, "amqp sink")}
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
// Messages not confirmed while the broker restarts are published again
// for up to retry_for within ctx (see resend); a message the broker
// returns as unroutable fails for good.
func (s *sink) Write(ctx context.Context, msgs []*message.Message) error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return errors.New("amqp sink: closed")
	}
	s.busy.Add(1)
	s.mu.Unlock()
	defer s.busy.Done()

	pubs := make([]amqp.Publishing, len(msgs))
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		p, err := toPublishing(m, uuid.NewString())
		if err != nil {
			errs[i] = resend.Permanent(fmt.Errorf("message %s: %w", m.ID, err))
		}
		pubs[i] = p
	}
	return s.resend.Send(ctx, errs, func(ctx context.Context, todo []int) {
		for len(todo) > 0 {
			n := min(len(todo), round)
			s.publish(ctx, pubs, todo[:n], errs)
			todo = todo[n:]
		}
	})
}

var errUnroutable = errors.New("unroutable: the broker returned it (no queue bound for this routing key)")

// publish sends the messages at todo (one round) on one channel, waits
// for their confirms and sets their errors.
func (s *sink) publish(ctx context.Context, msgs []amqp.Publishing, todo []int, errs []error) {
	fail := func(from int, err error) {
		for _, i := range todo[from:] {
			errs[i] = err
		}
	}
	pc, err := s.get()
	if err != nil {
		fail(0, err)
		return
	}
	defer s.put(pc)
	for len(pc.returns) > 0 { // left by a round cut short: not this round's
		<-pc.returns
	}
	confirms := make([]*amqp.DeferredConfirmation, 0, len(todo))
	for _, i := range todo {
		key := s.target
		if s.exchange != "" && key == "" {
			key, _ = msgs[i].Headers[keyHeader].(string)
		}
		dc, err := pc.ch.PublishWithDeferredConfirmWithContext(ctx, s.exchange, key, true, false, msgs[i])
		if err != nil { // the channel is gone: no confirm of this round comes
			fail(0, classify(fmt.Errorf("publish: %w", err)))
			return
		}
		confirms = append(confirms, dc)
	}
	for j, dc := range confirms {
		acked, err := dc.WaitContext(ctx)
		switch {
		case err != nil:
			fail(j, err)
			return
		case !acked:
			errs[todo[j]] = errors.New("the broker refused the message (nack)")
		default:
			errs[todo[j]] = nil
		}
	}
	// A return comes before the confirm of the same message.
	returned := map[string]bool{}
	for len(pc.returns) > 0 {
		returned[(<-pc.returns).MessageId] = true
	}
	for _, i := range todo {
		if returned[msgs[i].MessageId] {
			errs[i] = resend.Permanent(errUnroutable)
		}
	}
}

// classify marks as permanent a message the broker cannot take however
// often it is sent (larger than its frame or message size limit).
func classify(err error) error {
	var aerr *amqp.Error
	if errors.As(err, &aerr) && aerr.Code == amqp.ContentTooLarge {
		return resend.Permanent(err)
	}
	return err
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
