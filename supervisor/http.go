package supervisor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"log/slog"
	"net"
	"net/http"
	httppprof "net/http/pprof"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// FlowHandler mounts one feature's handlers for flow f on the run's
// server, under prefix: "/flows/NAME/" for every flow and, when the run
// has one flow, "/" as well. f.Current gives the running version's
// pipeline, which a reload replaces.
type FlowHandler func(mux *http.ServeMux, prefix string, f *Flow)

// HTTPOptions configure the run's HTTP server.
type HTTPOptions struct {
	Addr  string
	Pprof bool // /debug/pprof/: stacks and profiles for anyone who can reach Addr
	Flows []FlowHandler
}

// Mux is every endpoint of the run, set up in this one place:
// /metrics, /healthz, /readyz, /flows, each FlowHandler, and /debug/pprof/.
func (s *Supervisor) Mux(o HTTPOptions) *http.ServeMux {
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{Registry: s.reg}))
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		var waiting []string
		for _, st := range s.Statuses() {
			if !st.ready {
				waiting = append(waiting, fmt.Sprintf("%s (%s)", st.Name, st.State))
			}
		}
		if len(waiting) > 0 {
			http.Error(w, "not ready: "+strings.Join(waiting, ", "), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ready")
	})
	mux.HandleFunc("GET /flows", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		_ = enc.Encode(s.Statuses())
	})
	if len(s.flows) > 1 && len(o.Flows) > 0 {
		mux.HandleFunc("GET /{$}", s.index)
	}
	for _, f := range s.flows {
		for _, h := range o.Flows {
			h(mux, "/flows/"+f.Name()+"/", f)
			if len(s.flows) == 1 {
				h(mux, "/", f)
			}
		}
	}
	if o.Pprof { // stacks and profiles reveal internals: only when asked (--pprof)
		mux.HandleFunc("/debug/pprof/", httppprof.Index)
		mux.HandleFunc("/debug/pprof/profile", httppprof.Profile)
		mux.HandleFunc("/debug/pprof/symbol", httppprof.Symbol)
		mux.HandleFunc("/debug/pprof/trace", httppprof.Trace)
	}
	return mux
}

// Server is the run's HTTP server.
type Server struct {
	Addr   string // the address it listens on (a port 0 resolved)
	srv    *http.Server
	served chan struct{}
}

// Serve starts the run's HTTP server on o.Addr; Close ends it.
func (s *Supervisor) Serve(o HTTPOptions) (*Server, error) {
	ln, err := net.Listen("tcp", o.Addr)
	if err != nil {
		return nil, err
	}
	srv := &Server{Addr: ln.Addr().String(), served: make(chan struct{}),
		srv: &http.Server{Handler: s.Mux(o), ReadHeaderTimeout: 5 * time.Second,
			ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn)}} // not the log package's text
	go func() { // owned: ends on Close
		defer close(srv.served)
		if err := srv.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("http server failed", "error", err)
		}
	}()
	return srv, nil
}

// Close stops the server, giving requests in progress 2s.
func (v *Server) Close() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_ = v.srv.Shutdown(ctx)
	<-v.served
}

// index links each flow's pages when the run has several (one flow's are at /).
func (s *Supervisor) index(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	fmt.Fprint(w, "<!doctype html>\n<title>flowrun</title>\n<h1>Flows</h1>\n<ul>\n")
	for _, st := range s.Statuses() {
		n := html.EscapeString(st.Name)
		fmt.Fprintf(w, "<li><a href=\"flows/%s/\">%s</a> %s (%s)</li>\n", n, n, st.State, html.EscapeString(st.File))
	}
	fmt.Fprint(w, "</ul>\n<p><a href=\"flows\">flows</a> (JSON) · <a href=\"metrics\">metrics</a></p>\n")
}
