package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"log/slog"
	"sync"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	"github.com/flowrun/flowrun/connectors/internal/inflight"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// defaultMaxInFlight is used when the flow gives no in-flight limit.
const defaultMaxInFlight = 1000

// lockCheck is how often the holder of the group lock checks it still
// has its connection (a server restart ends the session and the lock).
const lockCheck = time.Second

// source reads a topic's rows for one consumer group, in the caller's
// goroutine, against demand; a committer goroutine stores the watermark.
type source struct {
	db     *sql.DB
	t      tables
	group  string
	poll   time.Duration
	logger *slog.Logger
	limit  *inflight.Limit
	retry  *inflight.Redeliveries
	win    window

	readMu     sync.Mutex // Read state below
	lockMu     sync.Mutex // guards lock, which commits use too
	lock       *sql.Conn  // the session holding the group lock; nil when not held
	lockSeen   time.Time
	standingBy bool
	cursor     position // last row read

	commitSig chan struct{}
	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	once      sync.Once
}

func newSource(ctx context.Context, cfg registry.Config, env registry.Env) (*source, error) {
	topic, err := topicOf(cfg)
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
	db, err := open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	t := newTables(topic, cfg.String("payload_type"))
	if err := t.ensure(ctx, db, cfg.Bool("create")); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres source: %w", err)
	}
	maxInFlight := cfg.Int("max_in_flight")
	if maxInFlight <= 0 {
		maxInFlight = env.MaxInFlight
	}
	if maxInFlight <= 0 {
		maxInFlight = defaultMaxInFlight
	}
	s := &source{
		db: db, t: t, group: group, poll: cfg.Duration("poll_interval"),
		logger: env.LoggerOrDiscard().With("connector", "postgres", "topic", topic, "group", group),
		limit:  inflight.NewLimit(maxInFlight, registry.ErrSourceClosed),
		retry: inflight.NewRedeliveries(inflight.NewRedelivery(env, cfg.Duration("redelivery_delay"),
			cfg.Duration("redelivery_max_delay"))),
		commitSig: make(chan struct{}, 1),
	}
	s.ctx, s.cancel = context.WithCancel(context.Background())
	s.wg.Add(1)
	go s.commitLoop()
	return s, nil
}

// Read hands out due redeliveries and new rows, up to the open demand
// and the in-flight limit, polling while there are none.
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
		held, err := s.holdLock(ctx)
		if err != nil {
			return 0, err
		}
		if held {
			n, err := s.limit.Acquire(ctx, s.ctx.Done(), len(buf))
			if err != nil {
				return 0, err
			}
			got := s.takeRetries(buf[:n])
			if got < n {
				k, err := s.fetch(ctx, buf[got:n])
				got += k
				if err != nil && got == 0 {
					s.limit.Release(n)
					return 0, fmt.Errorf("postgres source %s: %w", s.t.messages(), err)
				}
			}
			s.limit.Release(n - got)
			if got > 0 {
				return got, nil
			}
		}
		select {
		case <-time.After(s.poll):
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-s.ctx.Done():
			return 0, registry.ErrSourceClosed
		}
	}
}

// takeRetries takes due redeliveries, dropping those of a past
// generation (they are read again from the committed offset).
func (s *source) takeRetries(buf []*message.Message) int {
	n := s.retry.Take(buf)
	keep := 0
	for _, m := range buf[:n] {
		if s.win.current(m.Ref.(*ref)) {
			buf[keep] = m
			keep++
		}
	}
	return keep
}

// fetch reads rows after the cursor.
func (s *source) fetch(ctx context.Context, buf []*message.Message) (int, error) {
	rows, err := s.db.QueryContext(ctx, s.t.selectAfter(), s.cursor.txid, s.cursor.offset, len(buf))
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	n := 0
	for rows.Next() {
		row, err := s.t.schema.UnmarshalMessage(wsql.UnmarshalMessageParams{Row: rows})
		if err != nil {
			return n, err
		}
		txid, _ := row.ExtraData["transaction_id"].(wsql.XID8)
		pos := position{txid: uint64(txid), offset: row.Offset}
		m := &message.Message{ID: string(row.UUID), Topic: s.t.topic, Raw: row.Payload, Offset: row.Offset, Meta: row.Msg.Metadata}
		if k, ok := m.Meta[keyMeta]; ok {
			m.Key = k
			delete(m.Meta, keyMeta)
		}
		m.Ref = s.win.add(pos)
		s.cursor = pos
		buf[n] = m
		n++
	}
	return n, rows.Err()
}

// holdLock makes sure this source holds the group's advisory lock,
// taking it when free. Another process holding it means standing by.
func (s *source) holdLock(ctx context.Context) (bool, error) {
	if s.lock != nil {
		if time.Since(s.lockSeen) < lockCheck {
			return true, nil
		}
		if err := s.lock.PingContext(ctx); err == nil {
			s.lockSeen = time.Now()
			return true, nil
		}
		s.logger.Warn("postgres session holding the group lock is gone; rows in flight will be read again")
		s.setLock(nil)
	}
	conn, err := s.db.Conn(ctx)
	if err != nil {
		return false, err
	}
	var got bool
	if err := conn.QueryRowContext(ctx, `SELECT pg_try_advisory_lock($1)`, s.t.groupLock(s.group)).Scan(&got); err != nil || !got {
		_ = conn.Close()
		if err == nil && !s.standingBy {
			s.standingBy = true
			s.logger.Info("another process reads this consumer group; standing by until it stops")
		}
		return false, err
	}
	committed, err := s.committed(ctx, conn)
	if err != nil {
		_ = conn.Close() // ends the session: releases the lock
		return false, err
	}
	s.setLock(conn)
	s.lockSeen, s.standingBy = time.Now(), false
	s.cursor = committed
	s.win.reset(committed)
	return true, nil
}

// setLock replaces the lock session, closing the old one (which
// releases its lock).
func (s *source) setLock(conn *sql.Conn) {
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	if s.lock != nil {
		_ = s.lock.Close()
	}
	s.lock = conn
}

// committed reads (creating when new) the group's acknowledged position.
func (s *source) committed(ctx context.Context, conn *sql.Conn) (position, error) {
	before, err := s.t.offsets.BeforeSubscribingQueries(wsql.BeforeSubscribingQueriesParams{Topic: s.t.topic, ConsumerGroup: s.group})
	if err != nil {
		return position{}, err
	}
	for _, q := range before {
		if _, err := conn.ExecContext(ctx, q.Query, q.Args...); err != nil {
			return position{}, fmt.Errorf("registering group %q: %w", s.group, err)
		}
	}
	var offset int64
	var txid wsql.XID8
	err = conn.QueryRowContext(ctx, `SELECT offset_acked, last_processed_transaction_id FROM `+s.t.offsetsTable()+` WHERE consumer_group = $1`,
		s.group).Scan(&offset, &txid)
	if err != nil {
		return position{}, fmt.Errorf("reading the offset of group %q: %w", s.group, err)
	}
	return position{txid: uint64(txid), offset: offset}, nil
}

// Ack moves the watermark when it can; the committer stores it.
func (s *source) Ack(m *message.Message) {
	r, ok := m.Ref.(*ref)
	if !ok {
		return
	}
	s.limit.Release(1)
	s.retry.Acked(m)
	if s.win.ack(r) {
		select {
		case s.commitSig <- struct{}{}:
		default:
		}
	}
}

// Nack hands the row out again after the delay; the watermark waits for it.
func (s *source) Nack(m *message.Message, cause error) {
	if _, ok := m.Ref.(*ref); !ok {
		return
	}
	s.limit.Release(1)
	s.retry.Add(m.AsRead(), cause, "offset", m.Offset) // not the key and metadata stages changed
}

// commitLoop stores the watermark as it moves, one UPDATE at a time.
func (s *source) commitLoop() {
	defer s.wg.Done()
	for {
		select {
		case <-s.commitSig:
			s.commit()
		case <-s.ctx.Done():
			return
		}
	}
}

// commit stores the watermark through the session holding the lock, so a
// process that lost the group cannot move its offset.
func (s *source) commit() {
	pos, gen, ok := s.win.toCommit()
	if !ok {
		return
	}
	s.lockMu.Lock()
	defer s.lockMu.Unlock()
	conn := s.lock
	if conn == nil {
		return
	}
	q, err := s.t.offsets.AckMessageQuery(wsql.AckMessageQueryParams{
		Topic: s.t.topic, ConsumerGroup: s.group,
		LastRow: wsql.Row{Offset: pos.offset, ExtraData: map[string]any{"transaction_id": wsql.XID8(pos.txid)}},
	})
	if err != nil {
		s.logger.Error("postgres ack query", "err", err)
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := conn.ExecContext(ctx, q.Query, q.Args...); err != nil {
		s.logger.Warn("postgres offset not stored; those rows will be read again after a restart", "err", err)
		return
	}
	s.win.committedAt(pos, gen)
}

// Close stops reading, stores the last watermark and ends the session
// (which releases the group lock for a standby replica).
func (s *source) Close() error {
	s.once.Do(func() {
		s.cancel()
		s.wg.Wait()
		s.commit()
		s.readMu.Lock() // waits for a Read in progress
		s.setLock(nil)
		s.readMu.Unlock()
		_ = s.db.Close()
	})
	return nil
}
