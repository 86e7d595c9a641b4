package postgres

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"maps"
	"strings"
	"sync"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
	wmessage "github.com/ThreeDotsLabs/watermill/message"
	"github.com/flowrun/flowrun/connectors/internal/resend"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5/pgconn"
)

// sink inserts each Write's messages with one INSERT (watermill-sql's
// query), committed before Write returns.
type sink struct {
	db     *sql.DB
	t      tables
	resend resend.Policy

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
	logger := env.LoggerOrDiscard().With("connector", "postgres", "topic", topic, "role", env.Role)
	return &sink{db: db, t: t, resend: resend.Of(cfg, logger, "postgres sink "+t.messages())}, nil
}

// Write inserts msgs in one statement. A failure that is not the data's
// fault (server restarting) is tried again for up to retry_for within
// ctx (see resend); an insert whose connection broke after the commit is
// then written twice (at least once). When the server refuses the data,
// the rows are inserted one at a time, so that only the rows it refuses
// fail (for good) and their neighbours are written.
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
	errs := make([]error, len(msgs))
	return s.resend.Send(ctx, errs, func(ctx context.Context, todo []int) {
		err := s.insert(ctx, wms, todo)
		if err != nil && !transient(err) && len(todo) > 1 {
			for _, i := range todo {
				errs[i] = classify(s.insert(ctx, wms, []int{i}))
			}
			return
		}
		for _, i := range todo {
			errs[i] = classify(err)
		}
	})
}

// insert writes the messages at todo with one statement.
func (s *sink) insert(ctx context.Context, wms wmessage.Messages, todo []int) error {
	rows := make(wmessage.Messages, len(todo))
	for j, i := range todo {
		rows[j] = wms[i]
	}
	q, err := s.t.schema.InsertQuery(wsql.InsertQueryParams{Topic: s.t.topic, Msgs: rows})
	if err != nil {
		return resend.Permanent(err)
	}
	if _, err := s.db.ExecContext(ctx, q.Query, q.Args...); err != nil {
		return fmt.Errorf("inserting %d rows: %w", len(rows), err)
	}
	return nil
}

// classify marks as permanent what the server refuses however often it
// is sent (a constraint, a value of the wrong type or encoding).
func classify(err error) error {
	if err == nil || transient(err) || resend.IsPermanent(err) {
		return err
	}
	return resend.Permanent(err)
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
