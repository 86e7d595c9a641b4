// Package supervisor runs the flows of one `flowrun run`: each flow on
// its own goroutine, restarted with backoff when a run fails, replaced by
// the next valid version of its file (watch, SIGHUP) once the running
// one has drained, and drained on stop. http.go serves what they do.
package supervisor

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"sync"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// Options configure a Supervisor.
type Options struct {
	Logger       *slog.Logger         // nil: slog.Default()
	Metrics      *prometheus.Registry // nil: a new one with the Go and process collectors
	Observers    []runtime.Observer   // shared by every flow; events carry the flow's name
	DrainTimeout time.Duration        // per run; 0: the runtime's default
	// Restart runs a flow again, with backoff, when a run fails (a
	// connector cannot be opened); without it such a flow stops.
	Restart bool
	// Watch reloads a flow when its file changes, and keeps a flow whose
	// source ended waiting for its next version instead of stopping.
	Watch         bool
	WatchInterval time.Duration // how often files are read; 0: 250ms
	MinBackoff    time.Duration // first wait before a restart; 0: 250ms
	MaxBackoff    time.Duration // 0: 30s
	// OnCompile sees every version of a flow before it runs (the CLI
	// learns its secrets to redact them).
	OnCompile func(*compiler.Flow)
	// Report shows the problems of a file that cannot run; nil: logged.
	Report func(diag.List)
	// Reload reloads every flow each time it receives (SIGHUP).
	Reload <-chan os.Signal
	// OnRun sees each run of a flow before it starts (what serves a
	// run's pipeline, such as the live graph, follows restarts and
	// reloads here); the func it returns is called once the run has ended.
	OnRun func(f *Flow, v *compiler.Flow, p *runtime.Pipeline) (ended func())
}

// Supervisor owns the flows of one run.
type Supervisor struct {
	opts  Options
	log   *slog.Logger
	reg   *prometheus.Registry
	flows []*Flow
}

// Load compiles every file. A file with problems, or two flows with one
// name, fail the whole load: every problem is returned and nothing runs.
func Load(files []string, opts Options) (*Supervisor, diag.List) {
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	if opts.Metrics == nil {
		opts.Metrics = prometheus.NewRegistry()
		opts.Metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	}
	opts.WatchInterval = or(opts.WatchInterval, 250*time.Millisecond)
	opts.MinBackoff = or(opts.MinBackoff, 250*time.Millisecond)
	opts.MaxBackoff = max(or(opts.MaxBackoff, 30*time.Second), opts.MinBackoff)
	if opts.Report == nil {
		opts.Report = func(ds diag.List) {
			for _, d := range ds {
				opts.Logger.Error("invalid flow", "problem", d.String())
			}
		}
	}
	s := &Supervisor{opts: opts, log: opts.Logger, reg: opts.Metrics}
	var all diag.List
	names := map[string]string{}
	stdin := "" // the file of the flow reading stdin
	for _, file := range files {
		src, err := os.ReadFile(file)
		flow, ds := s.compile(file, src, err)
		if flow == nil {
			all.Add(ds...)
			continue
		}
		if other, ok := names[flow.Name]; ok {
			all.Add(sameName(file, flow.Name, other))
			continue
		}
		if flow.Source.Kind == "stdin" && stdin != "" {
			all.Add(diag.Diagnostic{Pos: diag.Pos{File: file}, Path: "source.stdin",
				Message: fmt.Sprintf("the flow in %s reads stdin too; one process has one stdin: give it to one flow", stdin)})
			continue
		}
		if flow.Source.Kind == "stdin" {
			stdin = file
		}
		names[flow.Name] = file
		s.flows = append(s.flows, newFlow(s, file, flow, src, err))
	}
	if len(all) > 0 {
		return nil, all
	}
	if err := s.reg.Register(collector{s}); err != nil {
		return nil, diag.List{{Message: fmt.Sprintf("flow metrics: %v", err)}}
	}
	return s, nil
}

func or(d, def time.Duration) time.Duration {
	if d <= 0 {
		return def
	}
	return d
}

func sameName(file, name, other string) diag.Diagnostic {
	return diag.Diagnostic{Pos: diag.Pos{File: file}, Path: "name",
		Message: fmt.Sprintf("flow name %q is also the name of the flow in %s; flows of one run need their own names (metrics and logs are labelled by it)", name, other)}
}

// compile checks one version of a flow file, read as src.
func (s *Supervisor) compile(file string, src []byte, readErr error) (*compiler.Flow, diag.List) {
	if readErr != nil {
		return nil, diag.List{{Pos: diag.Pos{File: file}, Message: fmt.Sprintf("cannot read flow file: %v", readErr)}}
	}
	parsed, ds := dsl.Parse(file, src, nil)
	if parsed == nil {
		return nil, ds
	}
	flow, cds := compiler.Compile(parsed)
	ds = append(ds, cds...)
	ds.Sort()
	if len(ds) > 0 {
		return nil, ds
	}
	if s.opts.OnCompile != nil {
		s.opts.OnCompile(flow)
	}
	for _, w := range flow.Warnings {
		s.log.Warn(w.String())
	}
	return flow, nil
}

// Registry is where every flow's metrics are, labelled by flow.
func (s *Supervisor) Registry() *prometheus.Registry { return s.reg }

// Flows are the run's flows, in the order of their files.
func (s *Supervisor) Flows() []*Flow { return s.flows }

// Result is what one flow did over the whole run.
type Result struct {
	Name, File string
	Summary    runtime.Summary // every run of the flow added up
	Err        error           // the failed run the flow stopped on: without Restart, or when the run ended during its backoff
	Restarts   int
	Reloads    int
}

// Run runs every flow until each has stopped: its source ended (unless
// Watch), it failed (unless Restart), or ctx is done, when every flow
// drains. It returns one Result per flow, in the order of Flows.
func (s *Supervisor) Run(ctx context.Context) []Result {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var flows sync.WaitGroup
	for _, f := range s.flows {
		flows.Add(1)
		go func() { // owned: ends when the flow has stopped
			defer flows.Done()
			f.run(ctx)
		}()
	}
	watching := make(chan struct{})
	go func() { // owned: ends with ctx
		defer close(watching)
		s.watch(ctx)
	}()
	flows.Wait()
	cancel()
	<-watching
	out := make([]Result, len(s.flows))
	for i, f := range s.flows {
		out[i] = f.result()
	}
	return out
}

// Ready reports whether every flow is reading its source, or has
// finished with it.
func (s *Supervisor) Ready() bool {
	for _, f := range s.flows {
		if !f.Status().ready {
			return false
		}
	}
	return true
}

// nameTaken returns the file of another flow named name.
func (s *Supervisor) nameTaken(name string, self *Flow) string {
	for _, f := range s.flows {
		if f != self && f.Name() == name {
			return f.file
		}
	}
	return ""
}
