package nats

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	wmnats "github.com/ThreeDotsLabs/watermill-nats/v2/pkg/nats"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// giveBackDelay delays the redelivery of messages a closing source
// received but never handed out. Redelivered at once, they could go to
// this source's own pull request, which the server still holds for a
// moment (and then come back only after ack_wait).
const giveBackDelay = time.Second

// defaultMaxAckPending is used when the flow gives no in-flight limit.
const defaultMaxAckPending = 1000

// source consumes a durable pull consumer. JetStream hands out at most
// MaxAckPending unacknowledged messages; the Consume callback parks
// each in a small channel and blocks while it is full, so the client
// asks for more only as Read takes them.
type source struct {
	stream, durable string
	logger          *slog.Logger
	nc              *nats.Conn
	consumer        jetstream.Consumer
	pull            int // messages asked for per pull request
	maxPending      int
	cfg             registry.Config
	redeliveryDelay time.Duration

	buffered chan jetstream.Msg
	seen     *seen

	ctx    context.Context // ends the consume loop
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

func newSource(ctx context.Context, cfg registry.Config, env registry.Env) (*source, error) {
	if cfg.String("stream") == "" {
		return nil, fmt.Errorf("stream: no stream to read; set stream (the JetStream stream name)")
	}
	durable := cfg.String("durable")
	if durable == "" {
		durable = env.Flow
	}
	if durable == "" {
		return nil, fmt.Errorf("durable: no consumer name; set durable (or give the flow a name)")
	}
	logger := env.LoggerOrDiscard().With("connector", "nats", "stream", cfg.String("stream"), "durable", durable)
	nc, err := connect(ctx, cfg, env, logger, nil)
	if err != nil {
		return nil, err
	}
	maxPending := maxAckPending(cfg, env)
	s := &source{
		stream: cfg.String("stream"), durable: durable, logger: logger, nc: nc,
		pull:       min(maxPending, 256),
		maxPending: maxPending, cfg: cfg,
		redeliveryDelay: cfg.Duration("redelivery_delay"),
		buffered:        make(chan jetstream.Msg, min(maxPending, 64)),
		seen:            newSeen(),
	}
	if s.consumer, err = s.setup(ctx, cfg, maxPending); err != nil {
		nc.Close()
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.run()
	return s, nil
}

// maxAckPending is max_ack_pending, else the flow's in-flight limit.
func maxAckPending(cfg registry.Config, env registry.Env) int {
	if n := cfg.Int("max_ack_pending"); n > 0 {
		return n
	}
	if env.MaxInFlight > 0 {
		return env.MaxInFlight
	}
	return defaultMaxAckPending
}

// setup finds (or creates) the stream and creates or updates the durable
// consumer, so a changed flow (another in-flight limit) takes effect.
func (s *source) setup(ctx context.Context, cfg registry.Config, maxPending int) (jetstream.Consumer, error) {
	js, err := jetstream.New(s.nc)
	if err != nil {
		return nil, fmt.Errorf("nats source: %w", err)
	}
	st, err := ensureStream(ctx, js, cfg, cfg.String("subject"))
	if err != nil {
		return nil, fmt.Errorf("nats source: %w", err)
	}
	cc := jetstream.ConsumerConfig{
		Durable:       s.durable,
		AckPolicy:     jetstream.AckExplicitPolicy,
		AckWait:       cfg.Duration("ack_wait"),
		MaxDeliver:    -1, // the flow decides when a message is dead
		MaxAckPending: maxPending,
		FilterSubject: cfg.String("subject"),
		DeliverPolicy: jetstream.DeliverAllPolicy,
	}
	if cfg.String("deliver") == "new" {
		cc.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	cons, err := st.CreateOrUpdateConsumer(ctx, cc)
	if err != nil {
		return nil, fmt.Errorf("nats source: durable consumer %q on stream %q: %w; if it exists with other settings (deliver, subject), delete it or pick another durable name",
			s.durable, s.stream, err)
	}
	return cons, nil
}

// run keeps a Consume going until Close, starting a new one when the
// server ends it (consumer deleted, stream recreated...).
func (s *source) run() {
	defer s.wg.Done()
	wait := 100 * time.Millisecond
	for {
		cc, err := s.consumer.Consume(s.handle,
			jetstream.PullMaxMessages(s.pull),
			jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
				s.logger.Warn("nats consume error", "err", err)
			}))
		if err == nil {
			wait = 100 * time.Millisecond
			select {
			case <-s.ctx.Done():
				cc.Stop()
				<-cc.Closed()
				return
			case <-cc.Closed():
				s.logger.Warn("nats consumer stopped by the server; starting again")
			}
		} else {
			s.logger.Error("nats consume failed; retrying", "err", err, "backoff", wait)
		}
		select {
		case <-time.After(wait):
			wait = min(2*wait, 5*time.Second)
		case <-s.ctx.Done():
			return
		}
		// The consumer may be gone (deleted, stream recreated): make it again.
		if cons, err := s.setup(s.ctx, s.cfg, s.maxPending); err != nil {
			s.logger.Error("nats consumer unavailable", "err", err)
		} else {
			s.consumer = cons
		}
	}
}

// handle parks m until Read takes it. While the channel is full it
// blocks, and the client does not pull more.
func (s *source) handle(m jetstream.Msg) {
	switch fresh, ackAgain := s.seen.admit(streamSeq(m)); {
	case ackAgain:
		_ = m.Ack()
		return
	case !fresh:
		return // held here already: its Ack or Nack settles this delivery too
	}
	select {
	case s.buffered <- m:
	case <-s.ctx.Done():
		_ = m.NakWithDelay(giveBackDelay) // not handed out: see giveBackDelay
	}
}

// Read blocks until a message is available, then fills buf with what is
// buffered, up to len(buf).
func (s *source) Read(ctx context.Context, buf []*message.Message) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	select {
	case m := <-s.buffered:
		buf[0] = s.toMessage(m)
	case <-ctx.Done():
		return 0, ctx.Err()
	case <-s.ctx.Done():
		return 0, registry.ErrSourceClosed
	}
	n := 1
	for n < len(buf) {
		select {
		case m := <-s.buffered:
			buf[n] = s.toMessage(m)
			n++
		default:
			return n, nil
		}
	}
	return n, nil
}

// Ack acknowledges m to JetStream. A lost ack (the server restarting)
// means the message comes back after ack_wait: at least once.
func (s *source) Ack(m *message.Message) {
	if jm, ok := m.Ref.(jetstream.Msg); ok {
		s.seen.done(streamSeq(jm), true)
		if err := jm.Ack(); err != nil {
			s.logger.Warn("nats ack failed; the message will be redelivered", "id", m.ID, "err", err)
		}
	}
}

// Nack asks JetStream to deliver m again after redelivery_delay.
func (s *source) Nack(m *message.Message, cause error) {
	jm, ok := m.Ref.(jetstream.Msg)
	if !ok {
		return
	}
	s.logger.Warn("nats message nacked", "id", m.ID, "subject", m.Topic, "err", cause)
	s.seen.done(streamSeq(jm), false)
	var err error
	if s.redeliveryDelay > 0 {
		err = jm.NakWithDelay(s.redeliveryDelay)
	} else {
		err = jm.Nak()
	}
	if err != nil {
		s.logger.Warn("nats nak failed; the message will be redelivered after ack_wait", "id", m.ID, "err", err)
	}
}

// Close stops consuming, gives back what was buffered and not handed
// out, sends the acks still queued and closes the connection.
func (s *source) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
		for len(s.buffered) > 0 {
			_ = (<-s.buffered).NakWithDelay(giveBackDelay)
		}
		if err := s.nc.FlushTimeout(2 * time.Second); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			s.logger.Warn("nats flush at close failed; unsent acks mean redeliveries", "err", err)
		}
		s.nc.Close()
	})
	return nil
}

// toMessage maps a JetStream message following the package conventions.
func (s *source) toMessage(jm jetstream.Msg) *message.Message {
	m := &message.Message{Topic: jm.Subject(), Raw: jm.Data(), Ref: jm}
	var seq uint64
	if md, err := jm.Metadata(); err == nil {
		seq = md.Sequence.Stream
		m.Offset = int64(seq)
	}
	m.ID, m.Key, m.Meta = fromHeaders(jm.Headers())
	if m.ID == "" {
		m.ID = s.stream + "-" + strconv.FormatUint(seq, 10)
	}
	return m
}

// streamSeq is the message's sequence in its stream (0 if unknown).
func streamSeq(m jetstream.Msg) uint64 {
	md, err := m.Metadata()
	if err != nil {
		return 0
	}
	return md.Sequence.Stream
}

// fromHeaders splits NATS headers into id, key and metadata.
func fromHeaders(h nats.Header) (id, key string, meta map[string]string) {
	meta = make(map[string]string, len(h))
	for k, v := range h {
		switch {
		case k == wmnats.WatermillUUIDHdr:
			id = strings.Join(v, ", ")
		case k == keyHeader:
			key = strings.Join(v, ", ")
		case strings.HasPrefix(k, "Nats-"):
		default:
			meta[k] = strings.Join(v, ", ")
		}
	}
	return id, key, meta
}
