package tap

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
)

// Request is what `flowrun tap` asks a run for.
type Request struct {
	Addr       string // HOST:PORT of the run's HTTP server
	Flow       string // in a run of several flows, which one ("": the run's only flow)
	Token      string
	Stage      string
	DeadLetter bool
	Where      string
	Rate       float64 // messages per second; 0: all the client keeps up with
	Redact     string  // comma-separated fields
	Limit      int     // stop after this many messages; 0: until the run ends
}

// URL is the tap endpoint's address for r.
func (r Request) URL() string {
	q := url.Values{}
	if r.Stage != "" {
		q.Set("stage", r.Stage)
	}
	if r.DeadLetter {
		q.Set("dead_letter", "true")
	}
	if r.Where != "" {
		q.Set("where", r.Where)
	}
	if r.Rate > 0 {
		q.Set("rate", strconv.FormatFloat(r.Rate, 'g', -1, 64))
	}
	if r.Redact != "" {
		q.Set("redact", r.Redact)
	}
	path := Path
	if r.Flow != "" { // a run of several flows serves each one's tap under /flows/NAME/
		path = "/flows/" + r.Flow + Path
	}
	u := url.URL{Scheme: "http", Host: r.Addr, Path: path, RawQuery: q.Encode()}
	return u.String()
}

// ErrEnded is returned when the run ended the stream (it finished or
// stopped) before the limit was reached.
var ErrEnded = errors.New("the run ended")

// Stream writes each message line of the tap to out and each notice
// (dropped samples) to notice, until r.Limit lines, ctx ends, or the
// run ends the stream (ErrEnded). It returns how many lines it wrote.
func Stream(ctx context.Context, r Request, out io.Writer, notice func(string)) (int, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, r.URL(), nil)
	if err != nil {
		return 0, err
	}
	if r.Token != "" {
		req.Header.Set("Authorization", "Bearer "+r.Token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return 0, nil
		}
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // without the method and URL
		}
		return 0, fmt.Errorf("cannot reach a run at %s: %w (is `flowrun run --tap --http-addr %s` running?)", r.Addr, err, r.Addr)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
		if resp.Header.Get(Header) == "" {
			return 0, fmt.Errorf("the run at %s has no tap (it answered %s): start it with `flowrun run --tap`", r.Addr, resp.Status)
		}
		return 0, fmt.Errorf("the run at %s refused the tap (%s): %s", r.Addr, resp.Status, strings.TrimSpace(string(body)))
	}
	br := bufio.NewReaderSize(resp.Body, 64<<10)
	n := 0
	for r.Limit == 0 || n < r.Limit {
		line, err := br.ReadBytes('\n')
		if len(line) > 0 && line[len(line)-1] == '\n' {
			if bytes.HasPrefix(line, []byte(`{"notice":`)) {
				notice(string(bytes.TrimSpace(line)))
				continue
			}
			if _, werr := out.Write(line); werr != nil {
				return n, werr
			}
			n++
			continue
		}
		switch {
		case ctx.Err() != nil:
			return n, nil
		case err == nil || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF):
			return n, ErrEnded
		default:
			return n, fmt.Errorf("tap stream from %s: %w", r.Addr, err)
		}
	}
	return n, nil
}
