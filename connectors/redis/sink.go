package redis

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
	goredis "github.com/redis/go-redis/v9"
)

// retryFor bounds how long one Write keeps trying while the server is
// unreachable or restarting, before it reports the failure.
const retryFor = 30 * time.Second

// sink appends each Write's messages with one pipelined round trip of
// XADDs and returns once Redis answered every one.
type sink struct {
	client *goredis.Client
	stream string
	maxLen int64
	logger *slog.Logger

	mu     sync.RWMutex
	closed bool
}

func newSink(ctx context.Context, cfg registry.Config, env registry.Env) (*sink, error) {
	client, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	return &sink{
		client: client, stream: cfg.String("stream"), maxLen: int64(cfg.Int("max_len")),
		logger: env.LoggerOrDiscard().With("connector", "redis", "stream", cfg.String("stream"), "role", env.Role),
	}, nil
}

// Write appends msgs; entries Redis did not take are sent again (server
// restarting) for up to retryFor within ctx.
func (s *sink) Write(ctx context.Context, msgs []*message.Message) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("redis sink %q: closed", s.stream)
	}
	pending := make([]map[string]any, len(msgs))
	for i, m := range msgs {
		id := m.ID
		if id == "" {
			id = uuid.NewString()
		}
		v, err := toValues(m, id)
		if err != nil {
			return fmt.Errorf("redis sink %q: message %s: %w", s.stream, m.ID, err)
		}
		pending[i] = v
	}
	deadline := time.Now().Add(retryFor)
	wait := 100 * time.Millisecond
	for {
		failed, err := s.add(ctx, pending)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil || time.Now().After(deadline) {
			return fmt.Errorf("redis sink %q: %d of %d messages not written: %w", s.stream, len(failed), len(msgs), errors.Join(err, ctx.Err()))
		}
		s.logger.Warn("redis XADD failed; sending again", "failed", len(failed), "err", err, "backoff", wait)
		select {
		case <-time.After(wait):
			wait = min(2*wait, 2*time.Second)
		case <-ctx.Done():
		}
		pending = failed
	}
}

// add sends one pipeline of XADDs; it returns the entries not written.
func (s *sink) add(ctx context.Context, entries []map[string]any) ([]map[string]any, error) {
	cmds := make([]*goredis.StringCmd, len(entries))
	_, err := s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for i, v := range entries {
			args := &goredis.XAddArgs{Stream: s.stream, Values: v}
			if s.maxLen > 0 {
				args.MaxLen, args.Approx = s.maxLen, true
			}
			cmds[i] = p.XAdd(ctx, args)
		}
		return nil
	})
	if err == nil {
		return nil, nil
	}
	var failed []map[string]any
	for i, c := range cmds {
		if c.Err() != nil {
			failed = append(failed, entries[i])
		}
	}
	if len(failed) == 0 { // the pipeline failed as a whole
		failed = entries
	}
	return failed, err
}

// Close waits for Writes in progress and closes the connections.
func (s *sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if err := s.client.Close(); err != nil {
		return fmt.Errorf("redis sink %q: close: %w", s.stream, err)
	}
	return nil
}
