package supervisor

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/runtime"
)

// State is where a flow is in its life.
type State string

// The states /flows reports.
const (
	Starting   State = "starting"   // opening its connectors
	Running    State = "running"    // reading its source
	Draining   State = "draining"   // no more reads; finishing in-flight messages
	Restarting State = "restarting" // its run failed; waiting out the backoff
	Stopped    State = "stopped"    // its source ended, it failed for good, or the run is over
)

// Flow is one flow file of the run, through all its versions and runs.
type Flow struct {
	s     *Supervisor
	file  string
	next  chan *compiler.Flow // the newest valid version not yet running
	watch watchState          // touched by the watch goroutine only

	mu       sync.Mutex
	cur      *compiler.Flow    // the version running, or last run
	name     string            // of the newest valid version (cur's or next's)
	pipe     *runtime.Pipeline // of the run in progress; nil between runs
	phase    State             // Running covers starting and draining: pipe tells which
	wasReady bool              // pipe has been ready: not ready now means draining
	ended    bool              // stopped because the source ended
	since    time.Time
	restarts int
	reloads  int
	lastErr  string
	total    runtime.Summary // runs finished so far
	failed   error           // the failed run that stopped the flow
}

func newFlow(s *Supervisor, file string, f *compiler.Flow, src []byte, readErr error) *Flow {
	fl := &Flow{s: s, file: file, next: make(chan *compiler.Flow, 1), cur: f, name: f.Name, phase: Starting, since: time.Now()}
	fl.watch.seen = hashOf(src, readErr)
	fl.watch.handled = fl.watch.seen
	return fl
}

// Name is the flow's name (its newest valid version's).
func (f *Flow) Name() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.name
}

// File is the flow's file as given to the run.
func (f *Flow) File() string { return f.file }

// Current returns the version running (or last run) and its pipeline,
// nil between runs. A reload replaces both.
func (f *Flow) Current() (*compiler.Flow, *runtime.Pipeline) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.cur, f.pipe
}

// offer makes v the flow's next version, replacing one not yet started.
func (f *Flow) offer(v *compiler.Flow) {
	f.mu.Lock()
	f.name = v.Name
	f.mu.Unlock()
	for {
		select {
		case f.next <- v:
			return
		default:
			select {
			case <-f.next: // an older pending version: the newest wins
			default:
			}
		}
	}
}

// run runs the flow's versions one after the other until it stops.
func (f *Flow) run(ctx context.Context) {
	v, backoff := f.cur, f.s.opts.MinBackoff
	for v != nil && ctx.Err() == nil {
		v = f.runOnce(ctx, v, &backoff)
	}
	f.set(Stopped)
}

type outcome struct {
	sum runtime.Summary
	err error
}

// runOnce runs version v until its source ends, ctx is done or a new
// version arrives, and returns the version to run next (nil: stop). The
// old version drains and closes its connectors before the new one opens
// them, so no message is in flight in both.
func (f *Flow) runOnce(ctx context.Context, v *compiler.Flow, backoff *time.Duration) *compiler.Flow {
	p := runtime.New(v, runtime.Options{Logger: f.s.log, Metrics: f.s.reg, Observers: f.s.opts.Observers, DrainTimeout: f.s.opts.DrainTimeout})
	log := f.s.log.With("flow", v.Name)
	f.mu.Lock()
	f.cur, f.pipe, f.phase, f.wasReady, f.ended, f.since = v, p, Running, false, false, time.Now()
	f.mu.Unlock()
	log.Info("flow starting", "file", f.file, "concurrency", v.Concurrency, "max_demand", v.MaxDemand)

	ended := func() {}
	if on := f.s.opts.OnRun; on != nil {
		if e := on(f, v, p); e != nil {
			ended = e
		}
	}
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan outcome, 1)
	go func() { // owned: ends when the run has drained
		sum, err := p.Run(runCtx)
		done <- outcome{sum, err}
	}()
	var (
		r    outcome
		next *compiler.Flow
	)
	select {
	case r = <-done:
	case next = <-f.next:
		log.Info("reloading: draining the running version; the new one starts once it has")
		f.set(Draining)
		cancel()
		r = <-done
	case <-ctx.Done():
		f.set(Draining)
		r = <-done
	}
	f.finish(r)
	ended()
	if next != nil {
		log.Info("flow drained for reload", "in", r.sum.In, "out", r.sum.Out, "lost", r.sum.Lost)
		return f.reloaded(next)
	}
	if r.err != nil {
		log.Error("flow failed", "error", r.err)
		if !f.s.opts.Restart || ctx.Err() != nil {
			f.mu.Lock()
			f.failed = r.err
			f.mu.Unlock()
			return nil
		}
		return f.restart(ctx, v, r, backoff, log)
	}
	if ctx.Err() != nil {
		return nil
	}
	f.mu.Lock()
	f.ended = true
	f.mu.Unlock()
	if !f.s.opts.Watch {
		return nil
	}
	f.set(Stopped)
	log.Info("source ended; the flow runs again when its file changes")
	select {
	case next = <-f.next:
		return f.reloaded(next)
	case <-ctx.Done():
		return nil
	}
}

// restart waits out the backoff after a failed run, then returns the
// same version, or a newer one that arrived meanwhile.
func (f *Flow) restart(ctx context.Context, v *compiler.Flow, r outcome, backoff *time.Duration, log *slog.Logger) *compiler.Flow {
	if r.sum.Elapsed > 0 { // it opened and ran: a new failure, not the same one again
		*backoff = f.s.opts.MinBackoff
	}
	wait := *backoff
	*backoff = min(2*wait, f.s.opts.MaxBackoff)
	f.set(Restarting)
	log.Warn("flow restarting after backoff", "backoff", wait)
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-t.C:
		f.mu.Lock()
		f.restarts++
		f.mu.Unlock()
		return v
	case next := <-f.next:
		return f.reloaded(next)
	case <-ctx.Done():
		f.mu.Lock()
		f.failed = r.err // stopped while its last run had failed: it could not run
		f.mu.Unlock()
		return nil
	}
}

func (f *Flow) reloaded(next *compiler.Flow) *compiler.Flow {
	f.mu.Lock()
	f.reloads++
	f.lastErr = ""
	f.mu.Unlock()
	return next
}

func (f *Flow) set(s State) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.phase != s {
		f.phase, f.since = s, time.Now()
	}
}

// finish adds a run's counts to the flow's.
func (f *Flow) finish(r outcome) {
	f.mu.Lock()
	defer f.mu.Unlock()
	t := &f.total
	t.In += r.sum.In
	t.Out += r.sum.Out
	t.Acked += r.sum.Acked
	t.Filtered += r.sum.Filtered
	t.DeadLettered += r.sum.DeadLettered
	t.Nacked += r.sum.Nacked
	t.Discarded += r.sum.Discarded
	t.Lost += r.sum.Lost
	t.Elapsed += r.sum.Elapsed
	t.DrainTimeout = t.DrainTimeout || r.sum.DrainTimeout
	f.pipe = nil
	if r.err != nil {
		f.lastErr = r.err.Error()
	}
}

// rejected records a version of the file that cannot run.
func (f *Flow) rejected(msg string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastErr = msg
}

func (f *Flow) result() Result {
	f.mu.Lock()
	defer f.mu.Unlock()
	return Result{Name: f.cur.Name, File: f.file, Summary: f.total, Err: f.failed, Restarts: f.restarts, Reloads: f.reloads}
}
