package tap

import (
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/redact"
	"github.com/flowrun/flowrun/registry"
	"github.com/flowrun/flowrun/runtime"
	"golang.org/x/time/rate"
)

// Path is where the run's HTTP server serves the tap.
const Path = "/tap"

// Header marks every answer of the tap endpoint, so a client tells "no
// tap here" (a plain 404) from the tap's own errors.
const Header = "Flowrun-Tap"

// Options configure the endpoint.
type Options struct {
	Flow    string
	Token   string           // when set, clients send "Authorization: Bearer TOKEN"
	Redact  Fields           // masked in every line, for every client
	Secrets *redact.Redactor // every line passes it: the flow's secrets, URL passwords
	Logger  *slog.Logger
}

// Handler serves GET /tap?stage=NAME|dead_letter=true&where=EXPR&rate=N&redact=F,...
// as a stream of JSON lines, one per sampled message, plus notice lines
// {"notice":...} (dropped samples) that clients print apart.
func (h *Hub) Handler(o Options) http.Handler {
	if o.Secrets == nil {
		o.Secrets = &redact.Redactor{}
	}
	if o.Logger == nil {
		o.Logger = slog.Default()
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set(Header, "1")
		if o.Token != "" && !bearer(r, o.Token) {
			http.Error(w, "the tap needs its token: Authorization: Bearer TOKEN (flowrun tap --token, or env FLOWRUN_TAP_TOKEN)", http.StatusUnauthorized)
			return
		}
		s, where, fields, err := h.parse(r, o)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		h.stream(w, r, o, s, where, append(slices.Clone(o.Redact), fields...))
	})
}

func bearer(r *http.Request, token string) bool {
	got, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	return ok && subtle.ConstantTimeCompare([]byte(got), []byte(token)) == 1
}

// parse reads a client's request into its subscription.
func (h *Hub) parse(r *http.Request, o Options) (*sub, *expression.Program, Fields, error) {
	q := r.URL.Query()
	points, err := h.points(q.Get("stage"), q.Get("dead_letter") == "true")
	if err != nil {
		return nil, nil, nil, err
	}
	s := &sub{points: points, ch: make(chan *sample, queueLen)}
	var where *expression.Program
	if src := q.Get("where"); src != "" {
		if where, err = expression.Compile(src, expression.MessageScope); err != nil {
			return nil, nil, nil, fmt.Errorf("--where: %w", WhereError(src, err))
		}
		s.filters = true
	}
	if v := q.Get("rate"); v != "" {
		n, err := strconv.ParseFloat(v, 64)
		if err != nil || n < 0 {
			return nil, nil, nil, fmt.Errorf("rate %q: want messages per second, a number >= 0", v)
		}
		if n > 0 {
			s.limit = rate.NewLimiter(rate.Limit(n), max(1, int(n)))
		}
	}
	fields, err := ParseFields(q.Get("redact"))
	return s, where, fields, err
}

// WhereError is a --where expression's error with expr's caret under it.
func WhereError(src string, err error) error {
	var ee *expression.Error
	if errors.As(err, &ee) && ee.Snippet != "" {
		return fmt.Errorf("%s\n%s", ee.Message, strings.Trim(ee.Snippet, "\n"))
	}
	return err
}

// points are the tap points a client asked for: a stage's output, a
// node's (source, a batch), what reaches a sink, the dead letter, or by
// default what reaches every sink.
func (h *Hub) points(stage string, deadLetter bool) (map[*runtime.TapPoint]bool, error) {
	all := h.p.TapPoints()
	out := map[*runtime.TapPoint]bool{}
	var names []string
	for _, tp := range all {
		var name string
		switch {
		case tp.Stage != "":
			name = tp.Stage
		case tp.DeadLetter:
			name = "dead_letter"
		case tp.Sink != "":
			name = tp.Sink
		case tp.From != "processors":
			name = tp.From
		}
		if name != "" && !slices.Contains(names, name) {
			names = append(names, name)
		}
		switch {
		case deadLetter || stage == "dead_letter":
			out[tp] = tp.DeadLetter
		case stage == "":
			out[tp] = tp.Sink != ""
		default:
			out[tp] = tp.Stage == stage || tp.Stage == "" && !tp.DeadLetter &&
				(tp.Sink == stage || tp.Sink != "" && tp.To == stage || tp.From == stage && tp.From != "processors")
		}
		if !out[tp] {
			delete(out, tp)
		}
	}
	if len(out) == 0 {
		if deadLetter || stage == "dead_letter" {
			return nil, fmt.Errorf("the flow has no dead_letter")
		}
		return nil, fmt.Errorf("no stage, sink or node %q in the flow; tap one of: %s", stage, strings.Join(names, ", "))
	}
	return out, nil
}

// stream sends s's samples to w until the client leaves or the run ends.
func (h *Hub) stream(w http.ResponseWriter, r *http.Request, o Options, s *sub, where *expression.Program, fields Fields) {
	rc := http.NewResponseController(w)
	h.attach(s) // before the answer: a client that has it is attached
	defer h.detach(s)
	w.Header().Set("Content-Type", "application/x-ndjson")
	w.WriteHeader(http.StatusOK)
	if rc.Flush() != nil {
		return
	}
	x := registry.NewExec(r.Context(), o.Flow, message.JSON, o.Logger)
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	var buf []byte
	sent, told := 0, int64(0)
	defer func() {
		o.Logger.Info("tap client left", "remote", r.RemoteAddr, "sent", sent, "dropped", s.dropped.Load())
	}()
	o.Logger.Info("tap client attached", "remote", r.RemoteAddr, "query", o.Secrets.String(r.URL.RawQuery))
	write := func() bool {
		if len(buf) == 0 {
			return true
		}
		_ = rc.SetWriteDeadline(time.Now().Add(10 * time.Second)) // a client that stopped reading is let go
		_, err := w.Write([]byte(o.Secrets.String(string(buf))))
		buf = buf[:0]
		return err == nil && rc.Flush() == nil
	}
	for {
		select {
		case smp := <-s.ch:
			// Take what else is queued, so a busy tap flushes once per batch.
			for more := true; more && len(buf) < 64<<10; {
				if h.keep(x, s, where, smp) {
					fields.mask(&smp.msg)
					buf = appendLine(buf, smp)
					sent++
				}
				select {
				case smp = <-s.ch:
				default:
					more = false
				}
			}
			if !write() {
				return
			}
		case <-tick.C:
			if d := s.dropped.Load(); d != told {
				told = d
				buf = fmt.Appendf(buf, `{"notice":"dropped","dropped":%d}`+"\n", d)
				if !write() {
					return
				}
			}
		case <-r.Context().Done():
			return
		case <-h.closed:
			return
		}
	}
}

// keep applies a client's where and, after it, its rate.
func (h *Hub) keep(x *registry.Exec, s *sub, where *expression.Program, smp *sample) bool {
	if where == nil {
		return true
	}
	m := &message.Message{ID: smp.msg.ID, Key: smp.msg.Key, Topic: smp.msg.Topic, Meta: smp.msg.Meta, Raw: smp.msg.Body}
	x.Codec = smp.at.Codec
	ok, err := x.EvalBool(where, m)
	if err != nil || !ok {
		return false
	}
	return s.limit == nil || s.limit.Allow()
}
