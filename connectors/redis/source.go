package redis

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/flowrun/flowrun/connectors/internal/inflight"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	goredis "github.com/redis/go-redis/v9"
)

// defaultMaxInFlight is used when the flow gives no in-flight limit.
const defaultMaxInFlight = 1000

// source reads a consumer group in the caller's goroutine: each Read is
// one XREADGROUP (or XAUTOCLAIM) of at most the demand that is open and
// fits under the in-flight limit.
type source struct {
	client                  *goredis.Client
	stream, group, consumer string
	start                   string // group start id: "0" or "$"
	block, claimIdle        time.Duration
	logger                  *slog.Logger
	limit                   *inflight.Limit
	retry                   *inflight.Redeliveries

	readMu      sync.Mutex // Read state below
	history     bool       // still re-reading this consumer's own pending entries
	historyFrom string
	claimFrom   string
	lastClaim   time.Time

	heldMu sync.Mutex
	held   map[string]bool // entry ids handed out or waiting for redelivery

	ackMu  sync.RWMutex // Ack holds it shared while sending; Close exclusively
	acks   chan string
	closed bool

	ctx    context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
	once   sync.Once
}

func newSource(ctx context.Context, cfg registry.Config, env registry.Env) (*source, error) {
	group := cfg.String("group")
	if group == "" {
		group = env.Flow
	}
	if group == "" {
		return nil, fmt.Errorf("group: no consumer group; set group (or give the flow a name)")
	}
	consumer := cfg.String("consumer")
	if consumer == "" {
		host, err := os.Hostname()
		if err != nil || host == "" {
			return nil, fmt.Errorf("consumer: no host name to default to (%v); set consumer", err)
		}
		consumer = host
	}
	client, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	maxInFlight := cfg.Int("max_in_flight")
	if maxInFlight <= 0 {
		maxInFlight = env.MaxInFlight
	}
	if maxInFlight <= 0 {
		maxInFlight = defaultMaxInFlight
	}
	s := &source{
		client: client, stream: cfg.String("stream"), group: group, consumer: consumer,
		start: "0", block: cfg.Duration("block"), claimIdle: cfg.Duration("claim_idle"),
		logger: env.LoggerOrDiscard().With("connector", "redis", "stream", cfg.String("stream"), "group", group, "consumer", consumer),
		limit:  inflight.NewLimit(maxInFlight, registry.ErrSourceClosed),
		retry: inflight.NewRedeliveries(inflight.NewRedelivery(env, cfg.Duration("redelivery_delay"),
			cfg.Duration("redelivery_max_delay"))),
		history: true, historyFrom: "0", claimFrom: "0-0", lastClaim: time.Now(),
		held: map[string]bool{}, acks: make(chan string, 4096),
	}
	if cfg.String("start") == "newest" {
		s.start = "$"
	}
	if err := s.ensureGroup(ctx); err != nil {
		_ = client.Close()
		return nil, err
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.ackLoop()
	return s, nil
}

// ensureGroup creates the group (and the stream) unless it exists.
func (s *source) ensureGroup(ctx context.Context) error {
	err := s.client.XGroupCreateMkStream(ctx, s.stream, s.group, s.start).Err()
	if err != nil && !strings.HasPrefix(err.Error(), "BUSYGROUP") {
		return fmt.Errorf("redis source: creating group %q on stream %q: %w", s.group, s.stream, err)
	}
	return nil
}

// Read hands out up to len(buf) entries: redeliveries that are due, this
// consumer's own pending entries (after a restart), entries idle at dead
// consumers, then new ones, waiting up to block for them.
func (s *source) Read(ctx context.Context, buf []*message.Message) (int, error) {
	if len(buf) == 0 {
		return 0, nil
	}
	s.readMu.Lock()
	defer s.readMu.Unlock()
	for {
		if s.ctx.Err() != nil {
			return 0, registry.ErrSourceClosed
		}
		n, err := s.limit.Acquire(ctx, s.ctx.Done(), len(buf))
		if err != nil {
			return 0, err
		}
		got := s.retry.Take(buf[:n])
		if got < n {
			k, err := s.fetch(ctx, buf[got:n], got == 0)
			got += k
			if err != nil && got == 0 {
				s.limit.Release(n)
				if isNoGroup(err) {
					s.logger.Warn("redis consumer group is gone (server restarted without persistence?); creating it again")
					if err = s.ensureGroup(ctx); err == nil {
						continue
					}
				}
				if ctx.Err() != nil {
					return 0, ctx.Err()
				}
				return 0, fmt.Errorf("redis source %q: %w", s.stream, err)
			}
		}
		s.limit.Release(n - got)
		if got > 0 {
			s.hold(buf[:got])
			return got, nil
		}
		if ctx.Err() != nil {
			return 0, ctx.Err()
		}
	}
}

// fetch reads entries into buf from Redis.
func (s *source) fetch(ctx context.Context, buf []*message.Message, mayBlock bool) (int, error) {
	if s.history {
		n, err := s.readGroup(ctx, buf, s.historyFrom, -1)
		if err != nil || n > 0 {
			return n, err
		}
		s.history = false
	}
	if time.Since(s.lastClaim) >= s.claimIdle/2 {
		n, err := s.claim(ctx, buf)
		if err != nil || n > 0 {
			return n, err
		}
	}
	block := time.Duration(-1)
	if mayBlock {
		block = s.block
		if wait, ok := s.retry.Next(); ok {
			block = min(block, wait)
		}
		if deadline, ok := ctx.Deadline(); ok {
			block = min(block, time.Until(deadline))
		}
		block = max(block, time.Millisecond) // 0 would block forever
	}
	return s.readGroup(ctx, buf, ">", block)
}

// readGroup runs XREADGROUP from id (">" for new entries).
func (s *source) readGroup(ctx context.Context, buf []*message.Message, id string, block time.Duration) (int, error) {
	res, err := s.client.XReadGroup(ctx, &goredis.XReadGroupArgs{
		Group: s.group, Consumer: s.consumer, Streams: []string{s.stream, id},
		Count: int64(len(buf)), Block: block,
	}).Result()
	if errors.Is(err, goredis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, st := range res {
		for _, xm := range st.Messages {
			if id != ">" {
				s.historyFrom = xm.ID
			}
			if len(xm.Values) == 0 { // pending, but trimmed from the stream
				s.sendAck(xm.ID)
				continue
			}
			buf[n] = s.convert(xm)
			n++
		}
	}
	return n, nil
}

// claim takes over entries idle for claim_idle at other consumers.
func (s *source) claim(ctx context.Context, buf []*message.Message) (int, error) {
	msgs, next, err := s.client.XAutoClaim(ctx, &goredis.XAutoClaimArgs{
		Stream: s.stream, Group: s.group, Consumer: s.consumer,
		MinIdle: s.claimIdle, Start: s.claimFrom, Count: int64(len(buf)),
	}).Result()
	if err != nil {
		return 0, err
	}
	s.claimFrom = next
	if next == "0-0" {
		s.lastClaim = time.Now() // a full pass is done; the next one later
	}
	n := 0
	for _, xm := range msgs {
		if s.isHeld(xm.ID) || len(xm.Values) == 0 {
			continue // still being handled here, or trimmed
		}
		buf[n] = s.convert(xm)
		n++
	}
	if n > 0 {
		s.logger.Info("redis entries taken over from a consumer that stopped acknowledging", "count", n)
	}
	return n, nil
}

func (s *source) convert(xm goredis.XMessage) *message.Message {
	m, err := toMessage(s.stream, xm)
	if err != nil {
		s.logger.Warn("redis entry read as plain fields", "err", err)
	}
	return m
}

func (s *source) hold(msgs []*message.Message) {
	s.heldMu.Lock()
	for _, m := range msgs {
		s.held[m.Ref.(string)] = true
	}
	s.heldMu.Unlock()
}

func (s *source) isHeld(id string) bool {
	s.heldMu.Lock()
	defer s.heldMu.Unlock()
	return s.held[id]
}

// Ack queues an XACK; acks are sent in batches.
func (s *source) Ack(m *message.Message) {
	id, ok := m.Ref.(string)
	if !ok {
		return
	}
	s.heldMu.Lock()
	delete(s.held, id)
	s.heldMu.Unlock()
	s.limit.Release(1)
	s.retry.Acked(m)
	s.sendAck(id)
}

func (s *source) sendAck(id string) {
	s.ackMu.RLock()
	defer s.ackMu.RUnlock()
	if !s.closed {
		s.acks <- id
	}
}

// Nack keeps the entry pending and hands it out again after the delay.
func (s *source) Nack(m *message.Message, cause error) {
	if _, ok := m.Ref.(string); !ok {
		return
	}
	s.limit.Release(1)
	again := m.AsRead() // not the key and metadata stages changed
	again.Partition, again.Offset = 0, 0
	s.retry.Add(again, cause, "entry", m.Ref)
}

// ackLoop sends queued acks, as many per XACK as are waiting.
func (s *source) ackLoop() {
	defer s.wg.Done()
	ids := make([]string, 0, 512)
	for id := range s.acks {
		ids = append(ids[:0], id)
	more:
		for len(ids) < cap(ids) {
			select {
			case id, ok := <-s.acks:
				if !ok {
					break more
				}
				ids = append(ids, id)
			default:
				break more
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := s.client.XAck(ctx, s.stream, s.group, ids...).Err(); err != nil {
			s.logger.Warn("redis XACK failed; those entries will be delivered again", "count", len(ids), "err", err)
		}
		cancel()
	}
}

// Close stops reading, sends the queued acks and leaves the group when
// nothing is pending for this consumer (deleting a consumer drops its
// pending entries, so one with pending entries stays for a restart or a
// claim).
func (s *source) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.readMu.Lock() // waits for a Read in progress (at most block)
		defer s.readMu.Unlock()
		s.ackMu.Lock()
		s.closed = true
		close(s.acks)
		s.ackMu.Unlock()
		s.wg.Wait()
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		pending, err := s.client.XPendingExt(ctx, &goredis.XPendingExtArgs{
			Stream: s.stream, Group: s.group, Consumer: s.consumer, Start: "-", End: "+", Count: 1,
		}).Result()
		if err == nil && len(pending) == 0 {
			_ = s.client.XGroupDelConsumer(ctx, s.stream, s.group, s.consumer).Err()
		}
		if err := s.client.Close(); err != nil {
			s.logger.Warn("redis close", "err", err)
		}
	})
	return nil
}

func isNoGroup(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOGROUP")
}
