package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	wmessage "github.com/ThreeDotsLabs/watermill/message"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// retryFor bounds how long one Write keeps publishing again while the
// server is unreachable or restarting, before it reports the failure
// (the flow's retry middleware and dead letter take it from there).
const retryFor = 30 * time.Second

// ackTimeout is how long a publish waits for the stream's acknowledgement.
const ackTimeout = 10 * time.Second

// sink publishes asynchronously: a Write sends all of its messages, then
// waits for every acknowledgement from the stream.
type sink struct {
	subject   string
	logger    *slog.Logger
	nc        *nats.Conn
	js        jetstream.JetStream
	marshaler *wmnats.NATSMarshaler

	mu     sync.RWMutex // Write holds it shared; Close exclusively
	closed bool
}

func newSink(ctx context.Context, cfg registry.Config, env registry.Env) (*sink, error) {
	subject := cfg.String("subject")
	if subject == "" {
		return nil, fmt.Errorf("subject: no subject to publish to; set subject")
	}
	logger := env.LoggerOrDiscard().With("connector", "nats", "subject", subject, "role", env.Role)
	nc, err := connect(cfg, env, logger)
	if err != nil {
		return nil, err
	}
	js, err := jetstream.New(nc,
		jetstream.WithPublishAsyncMaxPending(max(cfg.Int("max_pending"), 1)),
		jetstream.WithPublishAsyncTimeout(ackTimeout))
	if err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats sink: %w", err)
	}
	if err := captured(ctx, js, cfg, subject); err != nil {
		nc.Close()
		return nil, fmt.Errorf("nats sink: %w", err)
	}
	return &sink{subject: subject, logger: logger, nc: nc, js: js, marshaler: &wmnats.NATSMarshaler{}}, nil
}

// captured makes sure a stream stores what is published on subject
// (creating the named stream when allowed): without one, publishes are
// answered by nobody.
func captured(ctx context.Context, js jetstream.JetStream, cfg registry.Config, subject string) error {
	if cfg.String("stream") != "" {
		_, err := ensureStream(ctx, js, cfg, subject)
		return err
	}
	if _, err := js.StreamNameBySubject(ctx, subject); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("no stream captures subject %q; create one, or set stream (and create: true) to have it created", subject)
		}
		return fmt.Errorf("looking up the stream of subject %q: %w", subject, jsHint(err))
	}
	return nil
}

// Write publishes msgs and returns nil once the stream acknowledged
// every one. Publishes that fail (server restarting) are sent again, for
// up to retryFor within ctx.
func (s *sink) Write(ctx context.Context, msgs []*message.Message) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("nats sink %q: closed", s.subject)
	}
	pending := make([]*nats.Msg, len(msgs))
	for i, m := range msgs {
		nm, err := s.toNATS(m)
		if err != nil {
			return fmt.Errorf("nats sink %q: message %s: %w", s.subject, m.ID, err)
		}
		pending[i] = nm
	}
	deadline := time.Now().Add(retryFor)
	wait := 100 * time.Millisecond
	for {
		failed, err := s.publish(ctx, pending)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("nats sink %q: %d of %d messages not acknowledged: %w", s.subject, len(failed), len(msgs), err)
		}
		s.logger.Warn("nats publish failed; sending again", "failed", len(failed), "err", err, "backoff", wait)
		select {
		case <-time.After(wait):
			wait = min(2*wait, 2*time.Second)
		case <-ctx.Done():
			return fmt.Errorf("nats sink %q: %d of %d messages not acknowledged: %w", s.subject, len(failed), len(msgs), errors.Join(err, ctx.Err()))
		}
		pending = failed
	}
}

// publish sends msgs and waits for their acknowledgements; it returns
// the messages that were not acknowledged and the first error.
func (s *sink) publish(ctx context.Context, msgs []*nats.Msg) ([]*nats.Msg, error) {
	var failed []*nats.Msg
	var first error
	fail := func(m *nats.Msg, err error) {
		failed = append(failed, m)
		if first == nil {
			first = err
		}
	}
	futures := make([]jetstream.PubAckFuture, 0, len(msgs))
	sent := make([]*nats.Msg, 0, len(msgs))
	for _, m := range msgs {
		f, err := s.js.PublishMsgAsync(m)
		if err != nil {
			fail(m, err)
			continue
		}
		futures = append(futures, f)
		sent = append(sent, m)
	}
	for i, f := range futures {
		select {
		case <-f.Ok():
		case err := <-f.Err():
			fail(sent[i], err)
		case <-ctx.Done():
			failed = append(failed, sent[i:]...)
			return failed, errors.Join(first, ctx.Err())
		}
	}
	return failed, first
}

// toNATS converts m with watermill-nats' marshaler (metadata as headers,
// the id in the watermill UUID header) and adds the key header.
func (s *sink) toNATS(m *message.Message) (*nats.Msg, error) {
	id := m.ID
	if id == "" {
		id = uuid.NewString()
	}
	wm := wmessage.NewMessage(id, m.Body)
	if m.Meta != nil {
		wm.Metadata = m.Meta
	}
	nm, err := s.marshaler.Marshal(s.subject, wm)
	if err != nil {
		return nil, err
	}
	if m.Key != "" {
		nm.Header.Set(keyHeader, m.Key)
	}
	return nm, nil
}

// Close waits for Writes in progress, then closes the connection.
func (s *sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	s.nc.Close()
	return nil
}
