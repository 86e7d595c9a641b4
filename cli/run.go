package cli

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"os"
	"os/signal"
	"runtime/pprof"
	"syscall"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/redact"
	"github.com/flowrun/flowrun/runtime"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// DefaultHTTPAddr serves /metrics, /healthz and /readyz on loopback only.
const DefaultHTTPAddr = "127.0.0.1:9464"

func run(args []string, io IO) int {
	fs := newFlags("run", io, "[flags] FILE")
	fs.epilog = runExitCodes
	httpAddr := fs.String("http-addr", envOr("FLOWRUN_HTTP_ADDR", DefaultHTTPAddr),
		`address for /metrics, /healthz, /readyz and the live graph page / (env FLOWRUN_HTTP_ADDR); "" disables; 0.0.0.0:PORT to expose`)
	logFormat := fs.String("log-format", envOr("FLOWRUN_LOG_FORMAT", "text"), "text or json")
	logLevel := fs.String("log-level", envOr("FLOWRUN_LOG_LEVEL", "info"), "debug, info, warn or error (debug adds runtime events)")
	drain := fs.Duration("drain-timeout", 30*time.Second, "on SIGTERM/SIGINT or end of input, how long to finish in-flight messages")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the run to `FILE` (read it with go tool pprof)")
	servePprof := fs.Bool("pprof", false, "also serve /debug/pprof/ on --http-addr: goroutine stacks, heap and CPU profiles for anyone who can reach it")
	live := addLiveFlags(fs) // the live graph page and the tap (live.go)
	files, err := fs.parse(args, oneFlowFile)
	if err == nil && !oneOf(*logFormat, "text", "json") {
		err = usageErrorf("--log-format must be text or json, not %q", *logFormat)
	}
	if err == nil {
		err = live.check(*httpAddr)
	}
	if err != nil {
		return fs.exit(err)
	}
	// Everything the run prints passes the redactor; it learns the
	// flow's secrets once the flow is compiled.
	secrets := &redact.Redactor{}
	io = io.redacted(secrets)
	logger, err := newLogger(io, *logFormat, *logLevel)
	if err != nil {
		fmt.Fprintln(io.Stderr, "flowrun:", err)
		return ExitUsage
	}

	flow, ds := compiler.CompileFile(files[0])
	if flow == nil {
		for _, d := range ds {
			if *logFormat == "json" { // every stderr line parses as JSON
				logger.Error("invalid flow", "problem", d.String())
				continue
			}
			fmt.Fprintln(io.Stderr, d.String())
		}
		return ExitFailure
	}
	secrets.Add(flow.Secrets()...)

	for _, w := range flow.Warnings {
		logger.Warn(w.String())
	}
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	opts := runtime.Options{Logger: logger, Metrics: reg, DrainTimeout: *drain}
	if logger.Enabled(context.Background(), slog.LevelDebug) {
		opts.Observers = append(opts.Observers, runtime.LogObserver(logger))
	}
	pipeline := runtime.New(flow, opts)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()

	if *httpAddr != "" {
		srv, addr, err := serveHTTP(*httpAddr, reg, pipeline, *servePprof, logger, func(mux *http.ServeMux) {
			live.mount(mux, flow, pipeline, reg, secrets, logger)
		})
		if err != nil {
			logger.Error("cannot serve metrics", "addr", *httpAddr, "error", err)
			return ExitFailure
		}
		logger.Info("serving /metrics, /healthz, /readyz, the live graph on /", "addr", addr, "tap", *live.tap)
		defer func() {
			sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			_ = srv.Shutdown(sctx)
		}()
		defer live.close() // before the shutdown, which waits for tap streams
	}

	if *cpuProfile != "" {
		stopProfile, err := startCPUProfile(*cpuProfile)
		if err != nil {
			logger.Error("cannot profile", "error", err)
			return ExitFailure
		}
		defer stopProfile()
	}
	logger.Info("flow starting", "flow", flow.Name, "file", flow.File, "concurrency", flow.Concurrency, "max_demand", flow.MaxDemand)
	sum, err := pipeline.Run(ctx)
	if *logFormat == "json" { // every stderr line parses as JSON
		logSummary(logger, flow.Name, sum)
	} else {
		printSummary(io, flow.Name, sum)
	}
	if err != nil {
		logger.Error("flow failed", "error", err)
		return ExitFailure
	}
	if sum.Undelivered() {
		return ExitUndelivered
	}
	return ExitOK
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

// serveHTTP starts the telemetry server; the caller shuts it down.
func serveHTTP(addr string, reg *prometheus.Registry, p *runtime.Pipeline, withPprof bool, logger *slog.Logger, mount func(*http.ServeMux)) (*http.Server, string, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, "", err
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(reg, promhttp.HandlerOpts{Registry: reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !p.Ready() {
			http.Error(w, "not ready", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	if withPprof { // stacks and profiles reveal internals: only when asked (--pprof)
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
	}
	mount(mux)
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ErrorLog: slog.NewLogLogger(logger.Handler(), slog.LevelWarn)} // not the log package's text
	go func() { // owned: ends on srv.Shutdown
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			logger.Error("http server failed", "error", err)
		}
	}()
	return srv, ln.Addr().String(), nil
}

func printSummary(io IO, name string, s runtime.Summary) {
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.In) / s.Elapsed.Seconds()
	}
	note := ""
	if s.DrainTimeout {
		note = " (drain timed out: unacked messages are redelivered if the source can)"
	}
	fmt.Fprintf(io.Stderr, "flowrun: %s: in %d, out %d, filtered %d, dead-lettered %d, nacked %d, discarded %d, lost %d in %s (%.0f msgs/s)%s\n",
		name, s.In, s.Out, s.Filtered, s.DeadLettered, s.Nacked, s.Discarded, s.Lost, s.Elapsed.Round(time.Millisecond), rate, note)
}
