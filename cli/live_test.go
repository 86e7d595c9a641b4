package cli_test

import (
	"bytes"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/cli"
)

// run's tap flags are checked before anything starts: a tap a network
// could reach needs a token, --redact needs the tap.
func TestRunRefusesAnUnguardedTap(t *testing.T) {
	t.Setenv("FLOWRUN_TAP_TOKEN", "")
	flow := writeFlow(t, "version: 1\nname: t\nsource: {generate: {count: 1, payload: counter}}\nsink: {drop: {}}\n")
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"--tap", "--http-addr", ":0"}, "--tap on :0, which is not loopback"},
		{[]string{"--tap", "--http-addr", "0.0.0.0:0"}, "--tap on 0.0.0.0:0, which is not loopback"},
		{[]string{"--tap", "--http-addr", "192.0.2.1:9464"}, "--tap on 192.0.2.1:9464, which is not loopback"},
		{[]string{"--tap", "--http-addr", ""}, `--tap is served on --http-addr, which is "" (off)`},
		{[]string{"--redact", "payload.card"}, "--redact applies to the tap: add --tap"},
		{[]string{"--tap", "--http-addr", "127.0.0.1:0", "--redact", "card"}, `--redact "card": name key, meta.NAME or payload.FIELD`},
	} {
		var stderr bytes.Buffer
		code := cli.Main(append(append([]string{"run"}, c.args...), flow), cli.IO{Stdout: &bytes.Buffer{}, Stderr: &stderr})
		if code != cli.ExitUsage || !strings.Contains(stderr.String(), c.want) {
			t.Errorf("%v: exit %d\n%s\nwant %q", c.args, code, stderr.String(), c.want)
		}
	}
	for _, args := range [][]string{
		{"--tap", "--http-addr", "127.0.0.1:0"},
		{"--tap", "--http-addr", "localhost:0"},
		{"--tap", "--http-addr", "0.0.0.0:0", "--tap-token", "t"},
	} {
		var stderr bytes.Buffer
		if code := cli.Main(append(append([]string{"run"}, args...), flow), cli.IO{Stdout: &bytes.Buffer{}, Stderr: &stderr}); code != cli.ExitOK {
			t.Errorf("%v: exit %d\n%s", args, code, stderr.String())
		}
	}
}
