package nats

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	wmessage "github.com/ThreeDotsLabs/watermill/message"
	"github.com/flowrun/flowrun/connectors/internal/resend"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// ackTimeout is how long a publish waits for the stream's acknowledgement.
const ackTimeout = 10 * time.Second

// sink publishes asynchronously: a Write sends all of its messages, then
// waits for every acknowledgement from the stream.
type sink struct {
	subject   string
	resend    resend.Policy
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
	nc, err := connect(ctx, cfg, env, logger, nil)
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
	return &sink{subject: subject, nc: nc, js: js, marshaler: &wmnats.NATSMarshaler{},
		resend: resend.Of(cfg, logger, fmt.Sprintf("nats sink %q", subject))}, nil
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
// every one. Publishes that fail while the server restarts are sent
// again for up to retry_for within ctx (see resend).
func (s *sink) Write(ctx context.Context, msgs []*message.Message) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("nats sink %q: closed", s.subject)
	}
	nms := make([]*nats.Msg, len(msgs))
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		nm, err := s.toNATS(m)
		if err != nil {
			errs[i] = resend.Permanent(fmt.Errorf("message %s: %w", m.ID, err))
		}
		nms[i] = nm
	}
	return s.resend.Send(ctx, errs, func(ctx context.Context, todo []int) { s.publish(ctx, nms, todo, errs) })
}

// publish sends the messages at todo and waits for their
// acknowledgements, setting their errors.
func (s *sink) publish(ctx context.Context, msgs []*nats.Msg, todo []int, errs []error) {
	futures := make([]jetstream.PubAckFuture, len(todo))
	for j, i := range todo {
		f, err := s.js.PublishMsgAsync(msgs[i])
		errs[i] = classify(err)
		futures[j] = f
	}
	for j, i := range todo {
		if futures[j] == nil {
			continue
		}
		select {
		case <-futures[j].Ok():
		case err := <-futures[j].Err():
			errs[i] = classify(err)
		case <-ctx.Done():
			errs[i] = ctx.Err()
		}
	}
}

// classify marks as permanent what publishing the same message again
// gets again: a message over the server's max_payload or the stream's
// max_msg_size. A lost connection, a timeout or a stream that is full
// may pass.
func classify(err error) error {
	var api *jetstream.APIError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, nats.ErrMaxPayload),
		errors.As(err, &api) && api.ErrorCode == jetstream.JSErrCodeStreamMessageExceedsMaximum:
		return resend.Permanent(err)
	}
	return err
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
