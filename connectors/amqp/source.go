package amqp

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	amqp "github.com/rabbitmq/amqp091-go"
)

// defaultPrefetch is used when the flow gives no in-flight limit.
const defaultPrefetch = 1000

// session is one connection and channel consuming the queue. Delivery
// tags belong to it: once it is gone, its deliveries are requeued by the
// broker and must not be acked through a new one.
type session struct {
	conn *amqp.Connection
	ch   *amqp.Channel
	gone chan struct{} // closed when the connection or channel ends
}

func (s *session) alive() bool {
	select {
	case <-s.gone:
		return false
	default:
		return true
	}
}

// delivery is a message's Ref: where to ack it.
type delivery struct {
	sess *session
	tag  uint64
}

// source keeps one session consuming, reconnecting when it ends; its
// pump goroutine parks deliveries in a small channel that Read empties.
type source struct {
	cfg      registry.Config
	env      registry.Env
	queue    string
	prefetch int
	delay    time.Duration
	logger   *slog.Logger

	buffered chan *message.Message

	timersMu sync.Mutex
	timers   map[*time.Timer]bool // delayed nacks
	timersWG sync.WaitGroup       // one per pending or running delayed nack

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

func newSource(_ context.Context, cfg registry.Config, env registry.Env) (*source, error) {
	prefetch := cfg.Int("prefetch")
	if prefetch <= 0 {
		prefetch = env.MaxInFlight
	}
	if prefetch <= 0 {
		prefetch = defaultPrefetch
	}
	s := &source{
		cfg: cfg, env: env, queue: cfg.String("queue"), prefetch: prefetch,
		delay:    cfg.Duration("redelivery_delay"),
		logger:   env.LoggerOrDiscard().With("connector", "amqp", "queue", cfg.String("queue")),
		buffered: make(chan *message.Message, min(prefetch, 64)),
		timers:   map[*time.Timer]bool{},
	}
	// The first session is opened here so that a wrong url or queue
	// fails the flow at start with a clear message.
	sess, deliveries, err := s.open()
	if err != nil {
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.run(sess, deliveries)
	return s, nil
}

// open connects, sets the prefetch, declares (and binds) the queue and
// starts consuming.
func (s *source) open() (*session, <-chan amqp.Delivery, error) {
	conn, err := dial(s.cfg, s.env)
	if err != nil {
		return nil, nil, err
	}
	fail := func(err error) (*session, <-chan amqp.Delivery, error) {
		_ = conn.Close()
		return nil, nil, fmt.Errorf("amqp source: %w", err)
	}
	ch, err := conn.Channel()
	if err != nil {
		return fail(err)
	}
	if err := ch.Qos(s.prefetch, 0, false); err != nil {
		return fail(fmt.Errorf("setting prefetch %d: %w", s.prefetch, err))
	}
	if err := declareQueue(ch, s.queue, s.cfg.Bool("declare")); err != nil {
		return fail(err)
	}
	if ex := s.cfg.String("exchange"); ex != "" {
		if err := ch.QueueBind(s.queue, s.cfg.String("binding_key"), ex, false, nil); err != nil {
			return fail(fmt.Errorf("binding queue %q to exchange %q: %w; does the exchange exist?", s.queue, ex, err))
		}
	}
	deliveries, err := ch.Consume(s.queue, "", false, false, false, false, nil)
	if err != nil {
		return fail(fmt.Errorf("consuming queue %q: %w", s.queue, err))
	}
	sess := &session{conn: conn, ch: ch, gone: make(chan struct{})}
	connClosed := conn.NotifyClose(make(chan *amqp.Error, 1))
	chClosed := ch.NotifyClose(make(chan *amqp.Error, 1))
	s.wg.Add(1)
	go func() { // owned: ends when the connection or channel ends
		defer s.wg.Done()
		var cause *amqp.Error
		select {
		case cause = <-connClosed:
		case cause = <-chClosed:
		}
		if cause != nil {
			s.logger.Warn("amqp connection lost; reconnecting", "err", cause)
		}
		close(sess.gone)
	}()
	return sess, deliveries, nil
}

// run pumps deliveries of the current session into the buffer, and opens
// a new session (with backoff) when it ends, until Close.
func (s *source) run(sess *session, deliveries <-chan amqp.Delivery) {
	defer s.wg.Done()
	wait := 100 * time.Millisecond
	for {
		s.pump(sess, deliveries)
		_ = sess.conn.Close()
		for {
			if s.ctx.Err() != nil {
				return
			}
			var err error
			if sess, deliveries, err = s.open(); err == nil {
				s.logger.Info("amqp reconnected")
				wait = 100 * time.Millisecond
				break
			}
			s.logger.Warn("amqp reconnect failed", "err", err, "backoff", wait)
			select {
			case <-time.After(wait):
				wait = min(2*wait, 5*time.Second)
			case <-s.ctx.Done():
				return
			}
		}
	}
}

// pump moves deliveries into the buffer until the session or the source ends.
func (s *source) pump(sess *session, deliveries <-chan amqp.Delivery) {
	for {
		select {
		case d, ok := <-deliveries:
			if !ok {
				<-sess.gone
				return
			}
			m := toMessage(s.queue, &d)
			m.Ref = &delivery{sess: sess, tag: d.DeliveryTag}
			select {
			case s.buffered <- m:
			case <-s.ctx.Done():
				return // closing: the broker requeues what was not acked
			}
		case <-s.ctx.Done():
			return
		}
	}
}

// Read blocks until a delivery is available, then fills buf with what
// is buffered. Deliveries of a lost session are dropped: the broker has
// requeued them already.
func (s *source) Read(ctx context.Context, buf []*message.Message) (int, error) {
	n := 0
	for n < len(buf) {
		var m *message.Message
		if n == 0 {
			select {
			case m = <-s.buffered:
			case <-ctx.Done():
				return 0, ctx.Err()
			case <-s.ctx.Done():
				return 0, registry.ErrSourceClosed
			}
		} else {
			select {
			case m = <-s.buffered:
			default:
				return n, nil
			}
		}
		if m.Ref.(*delivery).sess.alive() {
			buf[n] = m
			n++
		}
	}
	return n, nil
}

// Ack acknowledges the delivery on its own session; once that session is
// gone the broker has requeued the message (it comes back: at least once).
func (s *source) Ack(m *message.Message) {
	d, ok := m.Ref.(*delivery)
	if !ok || !d.sess.alive() {
		return
	}
	if err := d.sess.ch.Ack(d.tag, false); err != nil {
		s.logger.Warn("amqp ack failed; the message will be redelivered", "id", m.ID, "err", err)
	}
}

// Nack requeues the delivery after redelivery_delay. It stays
// unacknowledged (counted by the prefetch) while it waits.
func (s *source) Nack(m *message.Message, cause error) {
	d, ok := m.Ref.(*delivery)
	if !ok {
		return
	}
	s.logger.Warn("amqp message nacked; requeueing", "id", m.ID, "err", cause, "delay", s.delay)
	requeue := func() {
		if d.sess.alive() {
			if err := d.sess.ch.Nack(d.tag, false, true); err != nil {
				s.logger.Warn("amqp nack failed; the message is requeued when the connection ends", "id", m.ID, "err", err)
			}
		}
	}
	if s.delay <= 0 {
		requeue()
		return
	}
	s.timersMu.Lock()
	defer s.timersMu.Unlock()
	if s.ctx.Err() != nil {
		return // closing: the connection's end requeues it
	}
	var t *time.Timer
	s.timersWG.Add(1)
	t = time.AfterFunc(s.delay, func() {
		defer s.timersWG.Done()
		s.timersMu.Lock()
		delete(s.timers, t)
		s.timersMu.Unlock()
		requeue()
	})
	s.timers[t] = true
}

// Close stops consuming and closes the connection; the broker requeues
// every delivery not acknowledged.
func (s *source) Close() error {
	s.once.Do(func() {
		s.timersMu.Lock()
		s.cancel()
		for t := range s.timers {
			if t.Stop() {
				s.timersWG.Done()
			}
		}
		s.timersMu.Unlock()
		s.timersWG.Wait()
		s.wg.Wait()
	})
	return nil
}
