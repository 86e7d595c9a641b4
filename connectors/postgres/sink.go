package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"sync"
	"time"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	wmessage "github.com/ThreeDotsLabs/watermill/message"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
)

// retryFor bounds how long one Write keeps trying while the server is
// unreachable or restarting, before it reports the failure.
const retryFor = 30 * time.Second

// sink inserts each Write's messages with one INSERT (watermill-sql's
// query), committed before Write returns.
type sink struct {
	db     *sql.DB
	t      tables
	logger *slog.Logger

	mu     sync.RWMutex
	closed bool
}

func newSink(ctx context.Context, cfg registry.Config, env registry.Env) (*sink, error) {
	topic, err := topicOf(cfg)
	if err != nil {
		return nil, err
	}
	db, err := open(ctx, cfg)
	if err != nil {
		return nil, err
	}
	t := newTables(topic, cfg.String("payload_type"))
	if err := t.ensure(ctx, db, cfg.Bool("create")); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("postgres sink: %w", err)
	}
	return &sink{db: db, t: t, logger: env.LoggerOrDiscard().With("connector", "postgres", "topic", topic, "role", env.Role)}, nil
}

// Write inserts msgs in one statement. A failure that is not the data's
// fault (server restarting) is tried again, for up to retryFor within
// ctx; an insert whose connection broke after the commit is then written
// twice (at least once).
func (s *sink) Write(ctx context.Context, msgs []*message.Message) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("postgres sink %s: closed", s.t.messages())
	}
	wms := make(wmessage.Messages, len(msgs))
	for i, m := range msgs {
		id := m.ID
		if id == "" {
			id = uuid.NewString()
		}
		wm := wmessage.NewMessage(id, m.Body)
		wm.Metadata = maps.Clone(m.Meta)
		if wm.Metadata == nil {
			wm.Metadata = wmessage.Metadata{}
		}
		if m.Key != "" {
			wm.Metadata[keyMeta] = m.Key
		}
		wms[i] = wm
	}
	q, err := s.t.schema.InsertQuery(wsql.InsertQueryParams{Topic: s.t.topic, Msgs: wms})
	if err != nil {
		return fmt.Errorf("postgres sink %s: %w", s.t.messages(), err)
	}
	deadline := time.Now().Add(retryFor)
	wait := 100 * time.Millisecond
	for {
		_, err := s.db.ExecContext(ctx, q.Query, q.Args...)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) || !transient(err) {
			return fmt.Errorf("postgres sink %s: inserting %d rows: %w", s.t.messages(), len(msgs), errors.Join(err, ctx.Err()))
		}
		s.logger.Warn("postgres insert failed; trying again", "rows", len(msgs), "err", err, "backoff", wait)
		select {
		case <-time.After(wait):
			wait = min(2*wait, 2*time.Second)
		case <-ctx.Done():
		}
	}
}

// transient reports whether err may go away by itself: connection
// failures and the server shutting down or starting, not bad data.
func transient(err error) bool {
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		return true // no answer from the server at all
	}
	switch {
	case strings.HasPrefix(pgErr.Code, "08"), // connection exception
		strings.HasPrefix(pgErr.Code, "57P"), // admin shutdown, cannot connect now
		strings.HasPrefix(pgErr.Code, "53"),  // insufficient resources
		pgErr.Code == "40001", pgErr.Code == "40P01":
		return true
	}
	return false
}

// Close waits for Writes in progress and closes the pool.
func (s *sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	return s.db.Close()
}
