package redis

import (
	"context"
	"errors"
	"fmt"
	"sync"

	"github.com/flowrun/flowrun/connectors/internal/resend"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/google/uuid"
	goredis "github.com/redis/go-redis/v9"
)

// sink appends each Write's messages with one pipelined round trip of
// XADDs and returns once Redis answered every one.
type sink struct {
	client *goredis.Client
	stream string
	maxLen int64
	resend resend.Policy

	mu     sync.RWMutex
	closed bool
}

func newSink(ctx context.Context, cfg registry.Config, env registry.Env) (*sink, error) {
	client, err := dial(ctx, cfg)
	if err != nil {
		return nil, err
	}
	stream := cfg.String("stream")
	logger := env.LoggerOrDiscard().With("connector", "redis", "stream", stream, "role", env.Role)
	return &sink{
		client: client, stream: stream, maxLen: int64(cfg.Int("max_len")),
		resend: resend.Of(cfg, logger, fmt.Sprintf("redis sink %q", stream)),
	}, nil
}

// Write appends msgs; entries Redis did not take while it is restarting
// are sent again for up to retry_for within ctx (see resend).
func (s *sink) Write(ctx context.Context, msgs []*message.Message) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return fmt.Errorf("redis sink %q: closed", s.stream)
	}
	entries := make([]map[string]any, len(msgs))
	errs := make([]error, len(msgs))
	for i, m := range msgs {
		id := m.ID
		if id == "" {
			id = uuid.NewString()
		}
		v, err := toValues(m, id)
		if err != nil {
			errs[i] = resend.Permanent(fmt.Errorf("message %s: %w", m.ID, err))
		}
		entries[i] = v
	}
	return s.resend.Send(ctx, errs, func(ctx context.Context, todo []int) { s.add(ctx, entries, todo, errs) })
}

// add sends one pipeline of XADDs, of the entries at todo, and sets
// their errors.
func (s *sink) add(ctx context.Context, entries []map[string]any, todo []int, errs []error) {
	cmds := make([]*goredis.StringCmd, len(todo))
	// Pipelined's error is the first command's: each command holds its own.
	_, _ = s.client.Pipelined(ctx, func(p goredis.Pipeliner) error {
		for j, i := range todo {
			args := &goredis.XAddArgs{Stream: s.stream, Values: entries[i]}
			if s.maxLen > 0 {
				args.MaxLen, args.Approx = s.maxLen, true
			}
			cmds[j] = p.XAdd(ctx, args)
		}
		return nil
	})
	for j, i := range todo {
		errs[i] = classify(cmds[j].Err())
	}
}

// classify marks as permanent an error reply that sending the same entry
// again gets again (a wrong type, an entry over proto-max-bulk-len); a
// lost connection and a server loading, busy, read-only or out of memory
// may pass.
func classify(err error) error {
	var reply goredis.Error
	if err == nil || !errors.As(err, &reply) {
		return err
	}
	for _, prefix := range []string{"LOADING", "BUSY", "TRYAGAIN", "CLUSTERDOWN", "MASTERDOWN", "READONLY", "OOM", "MOVED", "ASK", "ERR max number of clients"} {
		if goredis.HasErrorPrefix(err, prefix) {
			return err
		}
	}
	return resend.Permanent(err)
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
