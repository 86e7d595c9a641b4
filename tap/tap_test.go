package tap_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/compiler"
	_ "github.com/flowrun/flowrun/connectors/all"
	"github.com/flowrun/flowrun/redact"
	"github.com/flowrun/flowrun/runtime"
	_ "github.com/flowrun/flowrun/stages"
	"github.com/flowrun/flowrun/tap"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// running starts flow (endless unless it ends) with a tap endpoint and
// returns the endpoint's address; the run stops when the test ends.
func running(t *testing.T, flow string, o tap.Options) (addr string, reg *prometheus.Registry, done chan runtime.Summary) {
	addr, reg, done, start := prepared(t, flow, o)
	start()
	return addr, reg, done
}

// prepared is running with the start of the run left to the caller.
func prepared(t *testing.T, flow string, o tap.Options) (addr string, reg *prometheus.Registry, done chan runtime.Summary, start func()) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "flow.yaml")
	if err := os.WriteFile(path, []byte(flow), 0o644); err != nil {
		t.Fatal(err)
	}
	f, ds := compiler.CompileFile(path)
	if f == nil {
		t.Fatal(ds)
	}
	reg = prometheus.NewRegistry()
	p := runtime.New(f, runtime.Options{Logger: slog.New(slog.DiscardHandler), Metrics: reg})
	hub := tap.NewHub(p, f.Name, reg)
	o.Flow, o.Logger = f.Name, slog.New(slog.DiscardHandler)
	srv := httptest.NewServer(hub.Handler(o))
	ctx, cancel := context.WithCancel(context.Background())
	done = make(chan runtime.Summary, 1)
	stopped := make(chan struct{})
	start = func() {
		go func() {
			defer close(stopped)
			sum, err := p.Run(ctx)
			if err != nil {
				t.Error(err)
			}
			hub.Close()
			done <- sum
		}()
	}
	t.Cleanup(func() {
		cancel()
		<-stopped
		srv.Close()
	})
	return strings.TrimPrefix(srv.URL, "http://"), reg, done, start
}

type line struct {
	Edge, Time, ID, Key, Topic string
	Meta                       map[string]string
	Payload                    json.RawMessage
}

func lines(t *testing.T, out string) []line {
	t.Helper()
	var ls []line
	for _, s := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var l line
		if err := json.Unmarshal([]byte(s), &l); err != nil {
			t.Fatalf("line %q: %v", s, err)
		}
		ls = append(ls, l)
	}
	return ls
}

const endless = `version: 1
name: tapped
source: {generate: {payload: '{"n": counter, "card": {"number": "4111", "exp": "12/30"}}'}}
stages:
  - name: tag
    meta: {tier: 'payload.n % 2 == 0 ? "even" : "odd"'}
  - name: odd
    filter: meta.tier == "odd"
sink: {drop: {}}
`

func TestTapStreamsExactlyLimitLinesOfTheSinkEdge(t *testing.T) {
	addr, _, _ := running(t, endless, tap.Options{})
	var out bytes.Buffer
	n, err := tap.Stream(context.Background(), tap.Request{Addr: addr, Limit: 20}, &out, func(string) {})
	if err != nil || n != 20 {
		t.Fatalf("%d lines, %v", n, err)
	}
	ls := lines(t, out.String())
	if len(ls) != 20 {
		t.Fatalf("%d lines printed", len(ls))
	}
	for _, l := range ls {
		if l.Edge != "odd->sink" && l.Edge != "processors->sink" || l.Meta["tier"] != "odd" || l.Time == "" {
			t.Fatalf("line %+v", l)
		}
		if !bytes.HasPrefix(l.Payload, []byte(`{"card":{"exp":"12/30","number":"4111"},"n":`)) {
			t.Fatalf("payload %s", l.Payload)
		}
	}
}

func TestTapOneStageWhereRateAndRedact(t *testing.T) {
	addr, _, _ := running(t, endless, tap.Options{Redact: tap.Fields{"payload.card.number"}})
	var out bytes.Buffer
	req := tap.Request{Addr: addr, Stage: "tag", Where: `meta.tier == "even"`, Rate: 1000, Redact: "meta.tier", Limit: 5}
	if n, err := tap.Stream(context.Background(), req, &out, func(string) {}); err != nil || n != 5 {
		t.Fatalf("%d lines, %v", n, err)
	}
	for _, l := range lines(t, out.String()) {
		var p struct {
			N    int
			Card map[string]string
		}
		if err := json.Unmarshal(l.Payload, &p); err != nil {
			t.Fatal(err)
		}
		if l.Edge != "tag->odd" || p.N%2 != 0 || l.Meta["tier"] != redact.Mask ||
			p.Card["number"] != redact.Mask || p.Card["exp"] != "12/30" {
			t.Fatalf("line %+v payload %s", l, l.Payload)
		}
		if !bytes.HasPrefix(l.Payload, []byte(`{"card":{"exp":"12/30","number":"[redacted]"},"n":`)) {
			t.Fatalf("payload %s: masking rewrote more than the field", l.Payload)
		}
	}
}

func TestTapMasksTheFlowSecrets(t *testing.T) {
	secrets := &redact.Redactor{}
	secrets.Add("s3cr3t")
	addr, _, _ := running(t, `version: 1
name: leaky
source: {generate: {payload: '{"n": counter, "token": "s3cr3t"}'}}
sink: {drop: {}}
`, tap.Options{Secrets: secrets})
	var out bytes.Buffer
	if _, err := tap.Stream(context.Background(), tap.Request{Addr: addr, Limit: 1}, &out, func(string) {}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(out.String(), "s3cr3t") || !strings.Contains(out.String(), `"token":"[redacted]"`) {
		t.Fatalf("line %s", out.String())
	}
}

func TestTapRefusals(t *testing.T) {
	addr, _, _ := running(t, endless, tap.Options{Token: "t0ken"})
	for _, c := range []struct {
		req  tap.Request
		want string
	}{
		{tap.Request{Addr: addr}, "401 Unauthorized"},
		{tap.Request{Addr: addr, Token: "wrong"}, "401 Unauthorized"},
		{tap.Request{Addr: addr, Token: "t0ken", Stage: "nope"}, `no stage, sink or node "nope" in the flow; tap one of: source, tag, odd, sink`},
		{tap.Request{Addr: addr, Token: "t0ken", DeadLetter: true}, "the flow has no dead_letter"},
		{tap.Request{Addr: addr, Token: "t0ken", Where: "paylod.n > 1"}, "unknown name paylod"},
	} {
		n, err := tap.Stream(context.Background(), c.req, &bytes.Buffer{}, func(string) {})
		if n != 0 || err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: %d lines, error %v; want %q", c.req, n, err, c.want)
		}
	}
}

func TestTapOffOrUnreachable(t *testing.T) {
	off := httptest.NewServer(http.NewServeMux()) // a run's server without --tap
	defer off.Close()
	_, err := tap.Stream(context.Background(), tap.Request{Addr: strings.TrimPrefix(off.URL, "http://")}, &bytes.Buffer{}, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "has no tap (it answered 404 Not Found): start it with `flowrun run --tap`") {
		t.Fatalf("tap off: %v", err)
	}
	off.Close()
	_, err = tap.Stream(context.Background(), tap.Request{Addr: strings.TrimPrefix(off.URL, "http://")}, &bytes.Buffer{}, func(string) {})
	if err == nil || !strings.Contains(err.Error(), "cannot reach a run at") || !strings.Contains(err.Error(), "connection refused") {
		t.Fatalf("unreachable: %v", err)
	}
}

// A client that reads nothing never holds up the flow: its samples are
// dropped and counted, and the run ends as it would untapped.
func TestSlowClientNeverBlocksTheFlow(t *testing.T) {
	// 1500 lines of 64 KiB (98 MB) are far more than the socket's buffers and
	// the client's queue hold, so the tap must drop.
	addr, reg, done, start := prepared(t, `version: 1
name: slow
source: {generate: {count: 1500, payload: '{"n": counter, "pad": repeat("x", 65536)}'}}
sink: {drop: {}}
`, tap.Options{})
	resp, err := http.Get("http://" + addr + tap.Path) // attached once the header is back; never read
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	start()
	sum := <-done
	if sum.In != 1500 || sum.Acked != 1500 {
		t.Fatalf("summary %+v", sum)
	}
	dropped := testutil.ToFloat64(mustCounter(t, reg, "flowrun_tap_dropped_total"))
	if dropped == 0 {
		t.Fatal("no sample dropped: the client read nothing, so the queue must have filled")
	}
	// The stream ends with the run: what was queued, then EOF.
	n, err := tap.Stream(context.Background(), tap.Request{Addr: addr}, &bytes.Buffer{}, func(string) {})
	if n != 0 || !errors.Is(err, tap.ErrEnded) {
		t.Fatalf("after the run: %d lines, %v", n, err)
	}
}

func mustCounter(t *testing.T, g prometheus.Gatherer, name string) prometheus.Collector {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			c := prometheus.NewCounter(prometheus.CounterOpts{Name: name})
			c.Add(mf.GetMetric()[0].GetCounter().GetValue())
			return c
		}
	}
	t.Fatalf("no metric %s", name)
	return nil
}
