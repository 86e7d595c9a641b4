package cli

import (
	"log/slog"
	"net"
	"net/http"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/livegraph"
	"github.com/flowrun/flowrun/redact"
	"github.com/flowrun/flowrun/runtime"
	"github.com/flowrun/flowrun/tap"
	"github.com/prometheus/client_golang/prometheus"
)

// liveFlags are run's flags for what it serves besides telemetry: the
// live graph page (always) and the tap (--tap).
type liveFlags struct {
	tap    *bool
	token  *string
	redact *string
	fields tap.Fields
	hub    *tap.Hub
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

// mount serves the live graph page and, with --tap, the tap on mux.
func (l *liveFlags) mount(mux *http.ServeMux, f *compiler.Flow, p *runtime.Pipeline, reg *prometheus.Registry, secrets *redact.Redactor, logger *slog.Logger) {
	livegraph.New(f, p, reg, secrets).Mount(mux)
	if !*l.tap {
		return
	}
	l.hub = tap.NewHub(p, f.Name, reg)
	mux.Handle("GET "+tap.Path, l.hub.Handler(tap.Options{Flow: f.Name, Token: *l.token, Redact: l.fields,
		Secrets: secrets, Logger: logger}))
}

// close ends the tap's streams: the run is over (before the server's shutdown, which waits for them).
func (l *liveFlags) close() {
	if l.hub != nil {
		l.hub.Close()
	}
}
