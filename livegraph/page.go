// Package livegraph serves the live graph page of a running flow on the
// run's HTTP server: GET / draws the graph (source, stages, batcher,
// sinks, dead letter) with each edge's rate, buffer and time blocked and
// each stage's rate, demand and failures; the page polls GET /graph.json
// about once a second. The assets are embedded: the page works with no
// internet and no build step.
package livegraph

import (
	"embed"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/redact"
	"github.com/flowrun/flowrun/runtime"
	"github.com/prometheus/client_golang/prometheus"
)

//go:embed assets
var assets embed.FS

// minInterval is the shortest time rates are measured over: requests
// closer together (several open pages) share one sample.
const minInterval = 900 * time.Millisecond

// Page is the live graph of one running flow.
type Page struct {
	flow    *compiler.Flow
	p       *runtime.Pipeline
	g       prometheus.Gatherer
	secrets *redact.Redactor

	mu        sync.Mutex
	prev, cur *sample
	body      []byte // cur's view, as sent
}

// New returns the page of p, the run of f, reading its telemetry from g
// (the registry the pipeline's metrics are on). Labels pass secrets
// (nil: URL passwords are still masked). Call it before the run starts:
// the first rates are measured from then.
func New(f *compiler.Flow, p *runtime.Pipeline, g prometheus.Gatherer, secrets *redact.Redactor) *Page {
	if secrets == nil {
		secrets = &redact.Redactor{}
	}
	return &Page{flow: f, p: p, g: g, secrets: secrets, cur: &sample{at: time.Now(), v: map[key]float64{}}}
}

// Mount serves the page on mux: / , /graph.json and /assets/.
func (pg *Page) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		http.ServeFileFS(w, r, assets, "assets/index.html")
	})
	mux.Handle("GET /assets/", http.FileServerFS(assets))
	mux.HandleFunc("GET /graph.json", pg.serveJSON)
}

func (pg *Page) serveJSON(w http.ResponseWriter, _ *http.Request) {
	body, err := pg.JSON()
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

// JSON is the current View, encoded; a new sample is taken when the
// last is at least minInterval old.
func (pg *Page) JSON() ([]byte, error) {
	pg.mu.Lock()
	defer pg.mu.Unlock()
	if pg.body != nil && time.Since(pg.cur.at) < minInterval {
		return pg.body, nil
	}
	s, err := gather(pg.g, pg.flow.Name)
	if err != nil {
		return nil, err
	}
	pg.prev, pg.cur = pg.cur, s
	var b strings.Builder
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false) // labels such as payload.a > 1 read as written
	if err := enc.Encode(view(pg.flow, pg.p, pg.prev, pg.cur)); err != nil {
		return nil, err
	}
	pg.body = []byte(pg.secrets.String(b.String()))
	return pg.body, nil
}
