package cli

import (
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/livegraph"
	"github.com/flowrun/flowrun/redact"
	"github.com/flowrun/flowrun/runtime"
	"github.com/flowrun/flowrun/supervisor"
	"github.com/flowrun/flowrun/tap"
	"github.com/prometheus/client_golang/prometheus"
)

// liveFlags are run's flags for what it serves besides telemetry: the
// live graph page (always) and the tap (--tap), for each flow under
// /flows/NAME/, and at / (and /tap) when the run has one flow.
type liveFlags struct {
	tap    *bool
	token  *string
	redact *string
	fields tap.Fields

	mu    sync.Mutex
	flows map[*supervisor.Flow]*liveFlow
}

func addLiveFlags(fs *flagSet) *liveFlags {
	return &liveFlags{
		tap: fs.Bool("tap", false, "serve /tap on --http-addr: samples of the live messages for `flowrun tap` (payloads, so guard the address)"),
		token: fs.String("tap-token", envOr("FLOWRUN_TAP_TOKEN", ""),
			"token `flowrun tap` must send (env FLOWRUN_TAP_TOKEN, preferred: a flag shows in ps); required when --http-addr is not loopback"),
		redact: fs.String("redact", "", "with --tap, mask these `FIELDS` in every sample: key, meta.NAME, payload.PATH, comma-separated"),
	}
}

// check refuses a tap that a network could reach without a token.
func (l *liveFlags) check(httpAddr string) error {
	if !*l.tap {
		if *l.redact != "" {
			return usageErrorf("--redact applies to the tap: add --tap")
		}
		return nil
	}
	if httpAddr == "" {
		return usageErrorf(`--tap is served on --http-addr, which is "" (off)`)
	}
	host, _, err := net.SplitHostPort(httpAddr)
	if err != nil {
		return usageErrorf("--http-addr %q: %v", httpAddr, err)
	}
	if ip := net.ParseIP(host); *l.token == "" && host != "localhost" && (ip == nil || !ip.IsLoopback()) {
		return usageErrorf("--tap on %s, which is not loopback, streams payloads to anyone who reaches it: "+
			"set a token (env FLOWRUN_TAP_TOKEN or --tap-token), or serve on 127.0.0.1", httpAddr)
	}
	l.fields, err = tap.ParseFields(*l.redact)
	if err != nil {
		return usageErrorf("%v", err)
	}
	return nil
}

// onRun gives each run of a flow its own graph page and, with --tap,
// its own tap (both are bound to one pipeline), and serves them in place
// of the last run's (supervisor.Options.OnRun).
func (l *liveFlags) onRun(reg *prometheus.Registry, secrets *redact.Redactor, logger *slog.Logger) func(*supervisor.Flow, *compiler.Flow, *runtime.Pipeline) func() {
	return func(f *supervisor.Flow, v *compiler.Flow, p *runtime.Pipeline) func() {
		mux := http.NewServeMux()
		livegraph.New(v, p, reg, secrets).Mount(mux)
		var hub *tap.Hub
		if *l.tap {
			hub = tap.NewHub(p, v.Name, reg)
			mux.Handle("GET "+tap.Path, hub.Handler(tap.Options{Flow: v.Name, Token: *l.token, Redact: l.fields,
				Secrets: secrets, Logger: logger}))
		}
		l.of(f).set(mux)
		return func() { // the run is over: end its tap streams; the page shows it until the next run
			if hub != nil {
				hub.Close()
			}
		}
	}
}

// mount serves a flow's page and tap under prefix (supervisor.FlowHandler).
func (l *liveFlags) mount(mux *http.ServeMux, prefix string, f *supervisor.Flow) {
	if prefix == "/" {
		mux.Handle("/", l.of(f))
		return
	}
	mux.Handle(prefix, http.StripPrefix(strings.TrimSuffix(prefix, "/"), l.of(f)))
}

func (l *liveFlags) of(f *supervisor.Flow) *liveFlow {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.flows == nil {
		l.flows = map[*supervisor.Flow]*liveFlow{}
	}
	if l.flows[f] == nil {
		l.flows[f] = &liveFlow{}
	}
	return l.flows[f]
}

// liveFlow serves the current run's page and tap of one flow.
type liveFlow struct {
	mu  sync.Mutex
	cur http.Handler // nil until the flow's first run
}

func (lf *liveFlow) set(h http.Handler) {
	lf.mu.Lock()
	defer lf.mu.Unlock()
	lf.cur = h
}

func (lf *liveFlow) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	lf.mu.Lock()
	h := lf.cur
	lf.mu.Unlock()
	if h == nil { // before the first run: what a run serves is not there yet; anything else never is
		switch p := r.URL.Path; {
		case p == "/", p == "/graph.json", p == tap.Path, strings.HasPrefix(p, "/assets/"):
			http.Error(w, "the flow has not started yet", http.StatusServiceUnavailable)
		default:
			http.NotFound(w, r)
		}
		return
	}
	h.ServeHTTP(w, r)
}
