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
			"(a key is remembered only once its message is acked, so a failed message is processed again when redelivered; " +
			"a copy arriving while the first is still in flight waits for the first's outcome: dropped if it was acked, processed if it failed)",
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
	return newDedupe(cfg.Expr("key"), cfg.Duration("ttl"), cfg.Int("max_keys"), nil).middleware(), nil
}

// dedupe remembers the keys of acked messages. Since every key lives for
// the same ttl, the list in remembering order is also in expiry order:
// expired and evicted keys are both taken from its front.
//
// It also knows the keys of messages in flight (handled, not yet
// settled). A copy of one waits for the first's outcome instead of going
// through beside it: dropped once the first is acked, handled if the
// first failed. In flight keys are at most the flow's in-flight messages.
type dedupe struct {
	key     *expression.Program
	ttl     time.Duration
	maxKeys int
	now     func() time.Time // nil: the flow's clock (registry.NowOf), a test's virtual one

	mu       sync.Mutex
	keys     map[string]*list.Element // of *seenKey
	order    list.List                // oldest first
	inFlight map[string]*inFlight
	claimed  map[*message.Tracker]claim // the key each message in flight holds here
}

// claim is a key held by a message in flight, with the clock its ttl
// will start on once the message is acked.
type claim struct {
	key string
	now func() time.Time
}

type seenKey struct {
	key     string
	expires time.Time
}

// inFlight is a key whose first message is being handled; done is
// closed when that message is settled.
type inFlight struct {
	owner *message.Tracker
	done  chan struct{}
}

func newDedupe(key *expression.Program, ttl time.Duration, maxKeys int, now func() time.Time) *dedupe {
	return &dedupe{key: key, ttl: ttl, maxKeys: maxKeys, now: now, keys: map[string]*list.Element{},
		inFlight: map[string]*inFlight{}, claimed: map[*message.Tracker]claim{}}
}

func (d *dedupe) middleware() *registry.Middleware {
	return &registry.Middleware{Name: "dedupe", Wrap: d.wrap, OnSettle: d.onSettle}
}

func (d *dedupe) wrap(next registry.Handler) registry.Handler {
	return func(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
		key, err := x.EvalString(d.key, m)
		if err != nil {
			return out, fmt.Errorf("dedupe key %q: %w", d.key.Source, err)
		}
		if key == "" {
			return next(x, m, out)
		}
		now := d.now
		if now == nil {
			now = registry.NowOf(x.Ctx)
		}
		for {
			dup, wait := d.claim(key, m.Tracker, now)
			if dup {
				x.Logger.Debug("dropped duplicate", "flow", x.Flow, "dedupe_key", key, "id", m.ID)
				return out, nil
			}
			if wait == nil {
				break
			}
			// The first copy may be among what this goroutine handled and
			// has not sent on yet: send it, or it would never settle.
			if x.Flush != nil {
				x.Flush()
			}
			select {
			case <-wait:
			case <-x.Ctx.Done():
				return out, fmt.Errorf("dedupe: waiting for the outcome of the first copy of %q: %w", key, x.Ctx.Err())
			}
		}
		if m.Tracker == nil { // not tracked: nothing will settle it
			defer d.release(key, nil, false, now)
		}
		return next(x, m, out)
	}
}

// claim decides on a message with key: a duplicate of one acked within
// the ttl, or to wait until wait is closed, or (both zero) to be handled,
// key then being in flight with t.
func (d *dedupe) claim(key string, t *message.Tracker, now func() time.Time) (dup bool, wait <-chan struct{}) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if e, ok := d.keys[key]; ok && now().Before(e.Value.(*seenKey).expires) {
		return true, nil
	}
	if f, ok := d.inFlight[key]; ok {
		if t != nil && f.owner == t { // the same message again (retry)
			return false, nil
		}
		return false, f.done
	}
	key = strings.Clone(key)
	d.inFlight[key] = &inFlight{owner: t, done: make(chan struct{})}
	if t != nil {
		d.claimed[t] = claim{key: key, now: now} // this dedupe's own: a flow may have several
	}
	return false, nil
}

// onSettle remembers the key of a message handled without failure (a
// dead-lettered one may succeed when a copy comes again) and lets the
// copies waiting for it go on.
func (d *dedupe) onSettle(t *message.Tracker) {
	d.mu.Lock()
	c, ok := d.claimed[t]
	delete(d.claimed, t)
	d.mu.Unlock()
	if ok {
		d.release(c.key, t, t.Failure() == nil, c.now)
	}
}

// release ends key's time in flight (when owned by t), remembering it
// first when its message was acked.
func (d *dedupe) release(key string, t *message.Tracker, acked bool, now func() time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if acked {
		d.rememberLocked(key, now())
	}
	if f, ok := d.inFlight[key]; ok && f.owner == t {
		delete(d.inFlight, key)
		close(f.done)
	}
}

func (d *dedupe) rememberLocked(key string, now time.Time) {
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
