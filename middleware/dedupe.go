package middleware

import (
	"container/list"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func init() {
	registry.RegisterMiddleware(&registry.MiddlewareSpec{
		Name: "dedupe",
		Summary: "drops a message whose key was seen on a message acknowledged within ttl " +
			"(a key is remembered only once its message is acked, so a failed message is processed again when redelivered)",
		Example: "dedupe: {key: meta.event_id, ttl: 10m}",
		Value: registry.Field{Type: registry.Object, Fields: []registry.Field{
			{Name: "key", Type: registry.Expr, Scope: expression.MessageScope, Required: true,
				Doc: "identity of a message; messages whose key is empty are never dropped"},
			{Name: "ttl", Type: registry.Duration, Default: 10 * time.Minute,
				Doc: "how long a key is remembered after its message was acked"},
			{Name: "max_keys", Type: registry.Int, Default: 1_000_000, Min: registry.F(1),
				Doc: "most keys remembered; the oldest is forgotten first (about 100 bytes plus the key each)"},
		}},
		Build: buildDedupe,
	})
}

func buildDedupe(_ *registry.Build, value any) (*registry.Middleware, error) {
	cfg, err := asConfig("dedupe", value)
	if err != nil {
		return nil, err
	}
	if cfg.Expr("key") == nil {
		return nil, registry.At(fmt.Errorf("key is required: an expression such as meta.event_id"), "key")
	}
	if err := positive(cfg, "ttl"); err != nil {
		return nil, err
	}
	if n := cfg.Int("max_keys"); n < 1 {
		return nil, registry.At(fmt.Errorf("max_keys must be 1 or more, got %d", n), "max_keys")
	}
	return newDedupe(cfg.Expr("key"), cfg.Duration("ttl"), cfg.Int("max_keys"), time.Now).middleware(), nil
}

// dedupe remembers the keys of acked messages. Since every key lives for
// the same ttl, the list in remembering order is also in expiry order:
// expired and evicted keys are both taken from its front.
type dedupe struct {
	key     *expression.Program
	ttl     time.Duration
	maxKeys int
	now     func() time.Time

	mu    sync.Mutex
	keys  map[string]*list.Element // of *seenKey
	order list.List                // oldest first
}

type seenKey struct {
	key     string
	expires time.Time
}

func newDedupe(key *expression.Program, ttl time.Duration, maxKeys int, now func() time.Time) *dedupe {
	return &dedupe{key: key, ttl: ttl, maxKeys: maxKeys, now: now, keys: map[string]*list.Element{}}
}

func (d *dedupe) middleware() *registry.Middleware {
	return &registry.Middleware{Name: "dedupe", Wrap: d.wrap, OnAck: d.onAck}
}

func (d *dedupe) wrap(next registry.Handler) registry.Handler {
	return func(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
		key, err := x.EvalString(d.key, m)
		if err != nil {
			return out, fmt.Errorf("dedupe key %q: %w", d.key.Source, err)
		}
		if key != "" && d.seen(key) {
			x.Logger.Debug("dropped duplicate", "flow", x.Flow, "dedupe_key", key, "id", m.ID)
			return out, nil
		}
		if m.Tracker != nil {
			m.Tracker.DedupeKey = key
		}
		return next(x, m, out)
	}
}

// onAck remembers the key of a message handled without failure; a
// dead-lettered one may succeed when a copy comes again.
func (d *dedupe) onAck(t *message.Tracker) {
	if t.DedupeKey != "" && t.Failure() == nil {
		d.remember(t.DedupeKey)
	}
}

func (d *dedupe) seen(key string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	e, ok := d.keys[key]
	return ok && d.now().Before(e.Value.(*seenKey).expires)
}

func (d *dedupe) remember(key string) {
	now := d.now()
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.keys[key]; ok {
		e.Value.(*seenKey).expires = now.Add(d.ttl)
		d.order.MoveToBack(e)
	} else {
		// A copy: a key read from the payload or the Kafka key shares the
		// message's bytes (a whole fetch response), which would otherwise
		// stay in memory for the ttl.
		key = strings.Clone(key)
		d.keys[key] = d.order.PushBack(&seenKey{key: key, expires: now.Add(d.ttl)})
	}
	for front := d.order.Front(); front != nil; front = d.order.Front() {
		s := front.Value.(*seenKey)
		if len(d.keys) <= d.maxKeys && now.Before(s.expires) {
			break
		}
		d.order.Remove(front)
		delete(d.keys, s.key)
	}
}

// size is the number of keys held, for tests.
func (d *dedupe) size() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.keys)
}
