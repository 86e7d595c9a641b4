// Package memory is the `memory` connector: in-process topics on one
// watermill GoChannel shared by the whole process, so the memory sink of
// one flow feeds the memory source of another flow in the same process.
//
// Message conventions (watermill <-> flowrun):
//   - the watermill UUID is the message ID (the sink uses the flowrun ID,
//     or a new UUID when the message has none);
//   - watermill metadata is Meta, except the entry "partition_key", which
//     carries the Key (the name watermill users pick for a partitioning
//     key; the sink sets it only when Key is not empty and it overrides a
//     metadata entry of that name);
//   - the payload is Raw at the source and the encoded Body at the sink.
//
// The GoChannel is persistent: a message published before any source
// subscribed is kept for it, and every source of a topic receives every
// message of that topic (fan-out, no consumer groups), including those
// published before it subscribed. It also means the topic keeps every
// message for the life of the process: use memory topics to wire flows,
// for tests and demos, not for endless high-volume streams. Order is not
// guaranteed (GoChannel delivers each message from its own goroutine).
//
// Ack acknowledges the watermill message (a message's Ref holds it); Nack
// has GoChannel deliver it again, after redelivery_delay. The source
// takes from its subscription only what Read asks for, and hands out at
// most Env.MaxInFlight messages not yet acked or nacked, since GoChannel
// has no prefetch limit of its own. GoChannel's output buffer, sized from
// the first memory connector's Env.MaxInFlight, is the only read-ahead.
package memory

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/ThreeDotsLabs/watermill"
	wm "github.com/ThreeDotsLabs/watermill/message"
	"github.com/ThreeDotsLabs/watermill/pubsub/gochannel"

	"github.com/flowrun/flowrun/connectors/internal/inflight"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// KeyMetadata is the watermill metadata entry that carries the Key.
const KeyMetadata = "partition_key"

// defaultBuffer is GoChannel's output buffer when Env.MaxInFlight is unset.
const defaultBuffer = 64

// ErrClosed is returned by Read and Write after Close.
var ErrClosed = errors.New("memory connector closed")

var (
	sharedOnce sync.Once
	shared     *gochannel.GoChannel
)

// PubSub returns the process-wide GoChannel behind every memory topic,
// for Go code that feeds or reads flows directly. It is never closed.
func PubSub() *gochannel.GoChannel { return pubSub(0) }

func pubSub(maxInFlight int) *gochannel.GoChannel {
	sharedOnce.Do(func() {
		buf := maxInFlight
		if buf <= 0 {
			buf = defaultBuffer
		}
		shared = gochannel.NewGoChannel(gochannel.Config{OutputChannelBuffer: int64(buf), Persistent: true}, nil)
	})
	return shared
}

var topicField = registry.Field{Name: "topic", Type: registry.String, Target: true, Required: true,
	Doc: "the in-process topic; a memory sink and a memory source with the same topic are connected, across flows of one process"}

func init() {
	registry.RegisterConnector(&registry.ConnectorSpec{
		Name:       "memory",
		Summary:    "an in-process topic (watermill GoChannel) shared by all flows of the process",
		Redelivers: true,
		SourceFields: []registry.Field{
			topicField,
			{Name: "redelivery_delay", Type: registry.Duration, Default: 100 * time.Millisecond,
				Doc: "wait before a nacked message is delivered again (0 = at once), so a message that keeps failing does not spin; doubled at each nack of the same message, up to redelivery_max_delay"},
			{Name: "redelivery_max_delay", Type: registry.Duration, Default: inflight.DefaultRedeliveryMaxDelay,
				Doc: "longest wait before a message nacked again and again is delivered again"},
		},
		SinkFields: []registry.Field{topicField},
		Source: func(_ context.Context, cfg registry.Config, env registry.Env) (registry.Source, error) {
			return newSource(cfg, env)
		},
		Sink: func(_ context.Context, cfg registry.Config, env registry.Env) (registry.Sink, error) {
			return newSink(cfg, env)
		},
	})
}

func topicOf(cfg registry.Config, role string) (string, error) {
	topic := cfg.String("topic")
	if topic == "" {
		return "", fmt.Errorf("memory %s: topic is empty; name the in-process topic, e.g. topic: orders", role)
	}
	return topic, nil
}

type sink struct {
	topic  string
	ps     *gochannel.GoChannel
	mu     sync.RWMutex
	closed bool
}

func newSink(cfg registry.Config, env registry.Env) (*sink, error) {
	topic, err := topicOf(cfg, "sink")
	if err != nil {
		return nil, err
	}
	return &sink{topic: topic, ps: pubSub(env.MaxInFlight)}, nil
}

// Write publishes msgs; GoChannel holds them once Publish returns.
func (s *sink) Write(ctx context.Context, msgs []*message.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return ErrClosed
	}
	out := make([]*wm.Message, len(msgs))
	for i, m := range msgs {
		out[i] = toWatermill(m)
	}
	if err := s.ps.Publish(s.topic, out...); err != nil {
		return fmt.Errorf("memory sink: publish to %q: %w", s.topic, err)
	}
	return nil
}

// toWatermill converts a message for publishing. The body is copied:
// the topic keeps it, and it must not pin or share the caller's buffers.
func toWatermill(m *message.Message) *wm.Message {
	id := m.ID
	if id == "" {
		id = watermill.NewUUID()
	}
	w := wm.NewMessage(id, bytes.Clone(m.Body))
	for k, v := range m.Meta {
		w.Metadata.Set(k, v)
	}
	if m.Key != "" {
		w.Metadata.Set(KeyMetadata, m.Key)
	}
	return w
}

// Close stops writing; the shared topic lives on for its sources.
func (s *sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	return nil
}
