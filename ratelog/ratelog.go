// Package ratelog keeps repetitive log lines from flooding the log: per
// key (a stage and an error kind, say), the first Burst lines of each
// window are written and the rest only counted. When the window ends,
// one line reports the count with the last line suppressed as an
// example: "message failed: and 4990 more like it in the last 10s".
// Metrics, not logs, keep exact counts.
package ratelog

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Defaults for New.
const (
	DefaultWindow = 10 * time.Second
	DefaultBurst  = 5
	// maxKeys bounds the state kept; keys beyond it share one window.
	maxKeys = 1024
)

// Logger rate-limits lines per key. Safe for concurrent use.
type Logger struct {
	log    *slog.Logger
	window time.Duration
	burst  int

	mu   sync.Mutex
	keys map[string]*window
}

type window struct {
	start      time.Time
	logged     int
	suppressed int
	// the last line suppressed, reported with the count
	level slog.Level
	msg   string
	args  []any
}

// New returns a Logger writing to log at most burst lines per key per
// window of length every (0: the defaults).
func New(log *slog.Logger, every time.Duration, burst int) *Logger {
	if every <= 0 {
		every = DefaultWindow
	}
	if burst <= 0 {
		burst = DefaultBurst
	}
	return &Logger{log: log, window: every, burst: burst, keys: make(map[string]*window)}
}

// Log writes the line unless key already had its burst in this window;
// then it only counts it.
func (l *Logger) Log(level slog.Level, key, msg string, args ...any) {
	if !l.log.Enabled(context.Background(), level) {
		return
	}
	now := time.Now()
	l.mu.Lock()
	w := l.keys[key]
	if w == nil && len(l.keys) >= maxKeys {
		key = "\x00overflow"
		w = l.keys[key]
	}
	var ended window
	if w != nil && now.Sub(w.start) >= l.window {
		ended = *w
		w = nil
	}
	if w == nil {
		w = &window{start: now}
		l.keys[key] = w
	}
	write := w.logged < l.burst
	if write {
		w.logged++
	} else {
		w.suppressed++
		w.level, w.msg, w.args = level, msg, args
	}
	l.mu.Unlock()
	l.report(ended, l.window)
	if write {
		l.log.Log(context.Background(), level, msg, args...)
	}
}

// Flush reports the lines suppressed so far, in every window whether
// ended or not, and starts every key afresh. Call it before exiting.
func (l *Logger) Flush() { l.flush(true) }

// Start reports the suppressed lines of each window as it ends, even
// when no later line of its key comes, until stop (which flushes).
func (l *Logger) Start() (stop func()) {
	done, stopped := make(chan struct{}), make(chan struct{})
	go func() { // owned: ends on stop
		defer close(stopped)
		t := time.NewTicker(l.window)
		defer t.Stop()
		for {
			select {
			case <-t.C:
				l.flush(false)
			case <-done:
				l.Flush()
				return
			}
		}
	}()
	var once sync.Once
	return func() { once.Do(func() { close(done); <-stopped }) }
}

func (l *Logger) flush(all bool) {
	now := time.Now()
	var ended []window
	l.mu.Lock()
	for key, w := range l.keys {
		if all || now.Sub(w.start) >= l.window {
			ended = append(ended, *w)
			delete(l.keys, key)
		}
	}
	l.mu.Unlock()
	for _, w := range ended {
		l.report(w, min(now.Sub(w.start), l.window))
	}
}

// report writes the count of w's suppressed lines, if any.
func (l *Logger) report(w window, span time.Duration) {
	if w.suppressed == 0 {
		return
	}
	msg := fmt.Sprintf("%s: and %d more like it in the last %s", w.msg, w.suppressed, span.Round(time.Millisecond))
	l.log.Log(context.Background(), w.level, msg, append(w.args[:len(w.args):len(w.args)], "suppressed", w.suppressed)...)
}
