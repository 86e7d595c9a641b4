// Package generate is the `generate` source: messages made from an
// expression, for demos, tests and load. Message n (counting from 1) has
// `counter` = n in the payload expression's scope, Raw = the expression's
// value encoded as JSON (a string too, so the flow's codec decodes it
// back), ID = n as a decimal string, Offset = n and Topic "generate".
//
// With count the source ends with io.EOF after that many messages; with
// count 0 it never ends. Without interval it makes as many as are asked
// for; with interval the first message comes at once and then one per
// interval (a tick missed while the flow was busy is not made up twice).
//
// A generated message cannot be made again: Ack and Nack do nothing (the
// runtime logs and counts a nacked message).
package generate

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"sync"
	"time"

	json "github.com/goccy/go-json"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// Topic is the Topic of every generated message.
const Topic = "generate"

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("generate source closed")

func init() {
	registry.RegisterConnector(&registry.ConnectorSpec{
		Name:    "generate",
		Summary: "messages made from an expression: a fixed number (the flow then ends) or endless, as fast as asked or at a pace",
		SourceFields: []registry.Field{
			{Name: "count", Type: registry.Int, Default: 0, Min: registry.F(0),
				Doc: "how many messages to make before the source ends; 0 = endless"},
			{Name: "interval", Type: registry.Duration, Default: time.Duration(0),
				Doc: "wait between messages, e.g. 10ms; 0 = as fast as the flow asks"},
			{Name: "payload", Type: registry.Expr, Scope: expression.GenerateScope, Required: true,
				Doc: `expression giving each message's payload; counter (1, 2, ...) is in scope, e.g. '{"id": counter, "at": now()}'`},
		},
		Source: func(_ context.Context, cfg registry.Config, env registry.Env) (registry.Source, error) {
			return newSource(cfg, env)
		},
	})
}

type source struct {
	count    int
	interval time.Duration
	payload  *expression.Program

	mu      sync.Mutex // Read is called by one goroutine; Close may come from another
	runner  *expression.Runner
	made    int          // messages made so far; the next one has counter made+1
	ticker  *time.Ticker // started after the first message when interval > 0
	stopped bool

	done      chan struct{} // closed by Close: wakes a Read waiting for a tick
	closeOnce sync.Once
}

func newSource(cfg registry.Config, env registry.Env) (*source, error) {
	p := cfg.Expr("payload")
	if p == nil {
		return nil, fmt.Errorf("generate: payload is required: an expression such as '{\"n\": counter}'")
	}
	if p.Scope != expression.GenerateScope {
		return nil, fmt.Errorf("generate: payload %q was compiled for another scope; it must be compiled with expression.GenerateScope", p.Source)
	}
	count, interval := cfg.Int("count"), cfg.Duration("interval")
	if count < 0 || interval < 0 {
		return nil, fmt.Errorf("generate: count (%d) and interval (%s) must not be negative", count, interval)
	}
	return &source{count: count, interval: interval, payload: p,
		runner: expression.NewRunner(), done: make(chan struct{})}, nil
}

// Read makes up to len(buf) messages. With interval it waits (until ctx
// is done) for the next tick before the first one only, and adds one
// more only if a tick is already due.
func (s *source) Read(ctx context.Context, buf []*message.Message) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopped {
		return 0, ErrClosed
	}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	n := 0
	for ; n < len(buf); n++ {
		if s.finished() {
			return n, io.EOF
		}
		if s.ticker != nil {
			if n == 0 {
				select {
				case <-s.ticker.C:
				case <-ctx.Done():
					return 0, ctx.Err()
				case <-s.done:
					return 0, ErrClosed
				}
			} else {
				select {
				case <-s.ticker.C:
				default:
					return n, nil
				}
			}
		}
		m, err := s.make(s.made + 1)
		if err != nil {
			if n > 0 { // hand out what was made; the next Read meets the error again
				return n, nil
			}
			return 0, err
		}
		buf[n] = m
		s.made++
		if s.interval > 0 && s.ticker == nil {
			s.ticker = time.NewTicker(s.interval)
		}
	}
	if s.finished() {
		return n, io.EOF
	}
	return n, nil
}

func (s *source) finished() bool { return s.count > 0 && s.made >= s.count }

// make evaluates the payload for counter and encodes it.
func (s *source) make(counter int) (*message.Message, error) {
	v, err := s.runner.EvalGenerate(s.payload, counter)
	if err != nil {
		return nil, fmt.Errorf("generate: message %d: %w", counter, err)
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("generate: message %d: payload %v cannot be encoded as JSON: %w", counter, v, err)
	}
	id := strconv.Itoa(counter)
	return &message.Message{ID: id, Topic: Topic, Raw: raw, Offset: int64(counter)}, nil
}

// Ack does nothing: there is nothing to acknowledge to.
func (s *source) Ack(*message.Message) {}

// Nack does nothing: a generated message cannot be made again. The
// runtime has logged the failure once; a second line would only repeat it.
func (s *source) Nack(*message.Message, error) {}

// Close stops the ticker; a Read waiting for a tick returns ErrClosed.
func (s *source) Close() error {
	s.closeOnce.Do(func() {
		close(s.done)
		s.mu.Lock()
		defer s.mu.Unlock()
		s.stopped = true
		if s.ticker != nil {
			s.ticker.Stop()
		}
	})
	return nil
}
