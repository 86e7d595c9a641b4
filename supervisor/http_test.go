package supervisor_test

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/supervisor"
)

// A FlowHandler is mounted once per flow under /flows/NAME/, and at /
// as well when the run has one flow; /flows lists every flow.
func TestMuxMountsFlowHandlersAndListsFlows(t *testing.T) {
	dir := t.TempDir()
	flow := "version: 1\nname: %s\nsource: {generate: {count: 1, payload: counter}}\nsink: {drop: {}}\n"
	hello := func(mux *http.ServeMux, prefix string, f *supervisor.Flow) {
		mux.HandleFunc("GET "+prefix+"hello", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, f.Name()) })
	}
	for _, names := range [][]string{{"a"}, {"a", "b"}} {
		var files []string
		for _, n := range names {
			files = append(files, write(t, dir+"/"+n+".yaml", fmt.Sprintf(flow, n)))
		}
		s, ds := supervisor.Load(files, supervisor.Options{Logger: quiet()})
		if s == nil {
			t.Fatal(ds)
		}
		srv := httptest.NewServer(s.Mux(supervisor.HTTPOptions{Flows: []supervisor.FlowHandler{hello}}))
		get := func(path string) (int, string) {
			resp, err := http.Get(srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			return resp.StatusCode, string(b)
		}
		for _, n := range names {
			if code, body := get("/flows/" + n + "/hello"); code != 200 || body != n {
				t.Errorf("%v: /flows/%s/hello: %d %q", names, n, code, body)
			}
		}
		if code, body := get("/hello"); (len(names) == 1) != (code == 200 && body == "a") {
			t.Errorf("%v: /hello: %d %q", names, code, body)
		}
		if code, body := get("/"); len(names) > 1 && (code != 200 || !strings.Contains(body, `<a href="flows/b/">b</a> starting`)) {
			t.Errorf("%v: /: %d %q", names, code, body)
		}
		code, body := get("/flows")
		var list []supervisor.Status
		if err := json.Unmarshal([]byte(body), &list); code != 200 || err != nil || len(list) != len(names) ||
			list[0].Name != "a" || list[0].State != supervisor.Starting {
			t.Errorf("%v: /flows: %d %v %s", names, code, err, body)
		}
		if code, body := get("/readyz"); code != http.StatusServiceUnavailable || !strings.HasPrefix(body, "not ready: a (starting)") {
			t.Errorf("%v: /readyz %d %q before any flow runs", names, code, body)
		}
		srv.Close()
	}
}
