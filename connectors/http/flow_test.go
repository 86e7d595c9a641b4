package http_test

import (
	"context"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/compiler"
	_ "github.com/flowrun/flowrun/connectors/drop"
	_ "github.com/flowrun/flowrun/connectors/http"
	"github.com/flowrun/flowrun/dsl"
	"github.com/flowrun/flowrun/internal/poll"
	"github.com/flowrun/flowrun/runtime"
	_ "github.com/flowrun/flowrun/stages"
)

// A body the flow's codec cannot decode is answered 400, one the flow
// fails on for good (no dead letter) 422: sending either again cannot
// help, so neither is 503. A good one is answered 200.
func TestFlowAnswersWhatCannotSucceed4xx(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	src := "version: 1\nname: hook\nsource: {http: {address: \"" + addr + "\", path: /in}}\n" +
		"stages:\n  - map: '{\"a\": payload.a % 2}'\nsink: {drop: {}}\n"
	f, ds := dsl.Parse("hook.yaml", []byte(src), func(string) (string, bool) { return "", false })
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	flow, ds := compiler.Compile(f)
	if len(ds) > 0 {
		t.Fatal(ds)
	}
	p := runtime.New(flow, runtime.Options{})
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { _, err := p.Run(ctx); done <- err }()
	defer func() {
		stop()
		if err := <-done; err != nil {
			t.Error(err)
		}
	}()
	poll.Until(t, "the flow ready", 20*time.Second, p.Ready)
	for _, c := range []struct {
		body string
		want int
	}{{`{bad`, http.StatusBadRequest}, {`{"a":1}`, http.StatusOK}, {`[1,`, http.StatusBadRequest},
		{`{"a":1.5}`, http.StatusUnprocessableEntity}} {
		resp, err := http.Post("http://"+addr+"/in", "application/json", strings.NewReader(c.body))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: %d, want %d", c.body, resp.StatusCode, c.want)
		}
	}
}
