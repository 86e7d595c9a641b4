package conformance

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// collector reads a destination in the background, acks everything and
// counts deliveries per sent message: the test's view of a flow's output.
type collector struct {
	b     *batch
	check func(i int, m *message.Message) error // extra per-message check
	src   *source
	r     *reader

	mu       sync.Mutex
	counts   []int
	distinct int
	problems []error

	stop chan struct{}
	done chan struct{}
}

func (h *Harness) collect(t *testing.T, cfg registry.Config, b *batch, check func(int, *message.Message) error) *collector {
	t.Helper()
	c := &collector{
		b: b, check: check, src: h.openSource(t, cfg, 256),
		counts: make([]int, len(b.msgs)), stop: make(chan struct{}), done: make(chan struct{}),
	}
	c.r = startReader(c.src, 64)
	go c.loop()
	t.Cleanup(c.close)
	return c
}

func (c *collector) loop() {
	defer close(c.done)
	for {
		select {
		case m := <-c.r.out:
			c.record(m)
			c.src.Ack(m)
		case <-c.stop:
			return
		}
	}
}

func (c *collector) record(m *message.Message) {
	c.mu.Lock()
	defer c.mu.Unlock()
	i, ok := c.b.byID[string(m.Raw)]
	if !ok {
		c.problems = append(c.problems, fmt.Errorf("a message that was never sent: id %q raw %q", m.ID, m.Raw))
		return
	}
	if c.check != nil {
		if err := c.check(i, m); err != nil {
			c.problems = append(c.problems, fmt.Errorf("message %d: %w", i, err))
		}
	}
	if c.counts[i] == 0 {
		c.distinct++
	}
	c.counts[i]++
}

// waitFor waits until n distinct messages arrived, failing early when
// one of the flow processes that should deliver them has exited.
func (c *collector) waitFor(t *testing.T, n int, wait time.Duration, what string, running ...*flowProc) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for {
		for _, p := range running {
			if err := p.exited(); err != nil {
				t.Fatalf("%s: %v", what, err)
			}
		}
		c.mu.Lock()
		got, problems := c.distinct, c.problems
		c.mu.Unlock()
		if len(problems) > 0 {
			t.Fatalf("%s: %v", what, problems)
		}
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d of %d distinct messages arrived within %s; missing e.g. %v", what, got, n, wait, c.missing(5))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// missing lists up to k indexes not yet seen.
func (c *collector) missing(k int) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for i, n := range c.counts {
		if n == 0 && len(out) < k {
			out = append(out, i)
		}
	}
	return out
}

// duplicates counts deliveries beyond the first.
func (c *collector) duplicates() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	d := 0
	for _, n := range c.counts {
		d += max(n-1, 0)
	}
	return d
}

// repeated lists up to k indexes delivered more than once.
func (c *collector) repeated(k int) []int {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []int
	for i, n := range c.counts {
		if n > 1 && len(out) < k {
			out = append(out, i)
		}
	}
	return out
}

// count is how many distinct messages arrived.
func (c *collector) count() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.distinct
}

func (c *collector) close() {
	select {
	case <-c.stop:
		return
	default:
	}
	close(c.stop)
	<-c.done
	c.r.halt()
	c.src.close()
}
