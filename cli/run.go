package cli

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/redact"
	"github.com/flowrun/flowrun/runtime"
	"github.com/flowrun/flowrun/supervisor"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
)

// DefaultHTTPAddr serves /metrics, /healthz and /readyz on loopback only.
const DefaultHTTPAddr = "127.0.0.1:9464"

// run is `flowrun run`: flags in, package supervisor runs the flows.
func run(args []string, io IO) int {
	fs := newFlags("run", io, "[flags] FILE|DIR...")
	fs.epilog = runExitCodes
	httpAddr := fs.String("http-addr", envOr("FLOWRUN_HTTP_ADDR", DefaultHTTPAddr),
		`address for /metrics, /healthz, /readyz, /flows and the live graph page / (env FLOWRUN_HTTP_ADDR); "" disables; 0.0.0.0:PORT to expose`)
	logFormat := fs.String("log-format", envOr("FLOWRUN_LOG_FORMAT", "text"), "text or json")
	logLevel := fs.String("log-level", envOr("FLOWRUN_LOG_LEVEL", "info"), "debug, info, warn or error (debug adds runtime events)")
	drain := fs.Duration("drain-timeout", 30*time.Second, "on SIGTERM/SIGINT, end of input or a reload, how long to finish in-flight messages")
	watch := fs.Bool("watch", false, "reload a flow when its file changes (SIGHUP reloads too): a version with problems is reported and the running one goes on; a valid one starts once the running one has drained")
	watchEvery := fs.Duration("watch-interval", 250*time.Millisecond, "how often --watch reads the flow files")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to `FILE` (read it with go tool pprof)")
	servePprof := fs.Bool("pprof", false, "also serve /debug/pprof/ on --http-addr: goroutine stacks, heap and CPU profiles for anyone who can reach it")
	live := addLiveFlags(fs) // the live graph page and the tap (live.go)
	args, err := fs.parse(args, someFlowFiles)
	var files []string
	if err == nil {
		if files, err = supervisor.Files(args); err != nil {
			err = usageErrorf("%v", err)
		}
	}
	if err == nil && !oneOf(*logFormat, "text", "json") {
		err = usageErrorf("--log-format must be text or json, not %q", *logFormat)
	}
	if err == nil && *watchEvery <= 0 {
		err = usageErrorf("--watch-interval must be above 0, not %s", *watchEvery)
	}
	if err == nil {
		err = live.check(*httpAddr)
	}
	if err != nil {
		return fs.exit(err)
	}
	// Signals are taken from the start: a SIGTERM while the flows compile
	// or connect (a pod stopped as it starts) ends the run cleanly.
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	// Everything the run prints passes the redactor; it learns each
	// flow's secrets once the flow is compiled.
	secrets := &redact.Redactor{}
	io = io.redacted(secrets)
	logger, err := newLogger(io, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(io.Stderr, "flowrun:", err)
		return ExitUsage
	}
	report := func(ds diag.List) {
		for _, d := range ds {
			if *logFormat == "json" { // every stderr line parses as JSON
				logger.Error("invalid flow", "problem", d.String())
				continue
			}
			fmt.Fprintln(io.Stderr, d.String())
		}
	}
	opts := supervisor.Options{Logger: logger, DrainTimeout: *drain, Watch: *watch, WatchInterval: *watchEvery,
		// One flow without --watch fails the process (a container's
		// supervisor restarts it); with several, flowrun supervises.
		Restart:   len(files) > 1 || *watch,
		OnCompile: func(f *compiler.Flow) { secrets.Add(f.Secrets()...) },
		Report:    report, Reload: hup}
	if logger.Enabled(context.Background(), slog.LevelDebug) {
		opts.Observers = append(opts.Observers, runtime.LogObserver(logger))
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts.Metrics, opts.OnRun = reg, live.onRun(reg, secrets, logger)
	sup, ds := supervisor.Load(files, opts)
	if sup == nil {
		report(ds)
		return ExitFailure
	}

	if *httpAddr != "" {
		srv, err := sup.Serve(supervisor.HTTPOptions{Addr: *httpAddr, Pprof: *servePprof, Flows: []supervisor.FlowHandler{live.mount}})
		if err != nil {
			logger.Error("cannot serve metrics", "addr", *httpAddr, "error", err)
			return ExitFailure
		}
		logger.Info("serving /metrics, /healthz, /readyz, /flows, the live graph on /", "addr", srv.Addr, "tap", *live.tap)
		defer srv.Close()
	}
	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			logger.Error("cannot profile", "error", err)
			return ExitFailure
		}
		defer stopProfile()
	}
	code := ExitOK
	for _, r := range sup.Run(ctx) {
		if *logFormat == "json" { // every stderr line parses as JSON
			logSummary(logger, r)
		} else {
			printSummary(io, r)
		}
		code = max(code, exitCode(r))
	}
	return code
}

// exitCode is one flow's exit code; a run of several exits with the highest.
func exitCode(r supervisor.Result) int {
	switch {
	case r.Err != nil:
		return ExitFailure
	case r.Summary.Undelivered():
		return ExitUndelivered
	}
	return ExitOK
}

// someFlowFiles is run's check: one or more flow files or directories.
func someFlowFiles(args []string) error {
	if len(args) == 0 {
		return usageErrorf("no flow file given")
	}
	return nil
}

func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

func newLogger(io IO, format, level string) (*slog.Logger, error) {
	var lvl slog.Level
	if err := lvl.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lvl}
	if format == "json" {
		return slog.New(slog.NewJSONHandler(io.Stderr, opts)), nil
	}
	return slog.New(slog.NewTextHandler(io.Stderr, opts)), nil
}
