package main_test

import (
	"bytes"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// runCLI runs the binary and returns its exit code, stdout and stderr.
func runCLI(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	cmd := exec.Command(binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := exitCode(err)
	if code < 0 {
		t.Fatalf("flowrun %q: %v", args, err)
	}
	return code, stdout.String(), stderr.String()
}

// Help asked for is not an error: it goes to stdout and exits 0, for the
// top level and every command, however it is asked for.
func TestHelpExitsZeroForEveryCommand(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"--help"}, {"-help"}, {"help"}} {
		code, out, errOut := runCLI(t, args...)
		if code != 0 || !strings.Contains(out, "Usage:") || !strings.Contains(out, "flowrun run [flags] FILE") || errOut != "" {
			t.Errorf("flowrun %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errOut)
		}
	}
	for _, command := range []string{"run", "validate", "graph", "schema", "version", "broker"} {
		for _, args := range [][]string{{command, "-h"}, {command, "--help"}, {"help", command}} {
			code, out, errOut := runCLI(t, args...)
			if code != 0 || !strings.HasPrefix(out, "Usage: flowrun "+command) || errOut != "" {
				t.Errorf("flowrun %s: exit %d, stdout %q, stderr %q", strings.Join(args, " "), code, out, errOut)
			}
		}
	}
	_, out, _ := runCLI(t, "help", "run")
	for _, want := range []string{"--http-addr", "--drain-timeout", "--log-format", "Run flows", "--watch"} {
		if !strings.Contains(out, want) {
			t.Errorf("flowrun help run lacks %q:\n%s", want, out)
		}
	}
}

func TestVersionFlagAndCommand(t *testing.T) {
	_, byCommand, _ := runCLI(t, "version")
	for _, flag := range []string{"--version", "-version"} {
		code, out, errOut := runCLI(t, flag)
		if code != 0 || out != byCommand || !strings.HasPrefix(out, "flowrun ") || errOut != "" {
			t.Errorf("flowrun %s: exit %d, stdout %q (version: %q), stderr %q", flag, code, out, byCommand, errOut)
		}
	}
}

// A wrong command line says what is wrong and how to get it right, on
// stderr, with exit 2, and runs nothing.
func TestWrongArgumentsSayWhyAndExit2(t *testing.T) {
	flow := write(t, "ok.yaml", "version: 1\nname: ok\nsource: {generate: {count: 1, payload: counter}}\nsink: {stdout: {}}\n")
	dir := filepath.Dir(flow)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"run"}, []string{"flowrun run: no flow file given", "Usage: flowrun run [flags] FILE|DIR...", "flowrun run -h"}},
		{[]string{"run", flow, flow}, []string{flow + " is given twice (also as " + flow + "): one file runs as one flow"}},
		{[]string{"run", t.TempDir()}, []string{"has no flow files (*.yaml, *.yml)"}},
		{[]string{"graph", flow, flow}, []string{"takes one flow file, got 2", "flowrun validate"}},
		{[]string{"run", "--http-adr", "", flow}, []string{"unknown flag --http-adr; did you mean --http-addr?"}},
		{[]string{"run", flow, "--log-levle", "debug"}, []string{"unknown flag --log-levle; did you mean --log-level?"}},
		{[]string{"graph", dir}, []string{dir + " is a directory: give a flow file in it (such as " + flow + ")"}},
		{[]string{"run", "--log-format", "xml", flow}, []string{`--log-format must be text or json, not "xml"`}},
		{[]string{"run", flow, "--drain-timeout"}, []string{"flag --drain-timeout needs a value"}},
		{[]string{"run", "--drain-timeout", "soon", flow}, []string{"drain-timeout", "soon"}},
		{[]string{"graph", "--format", "svg", flow}, []string{`--format must be mermaid or dot, not "svg"`}},
		{[]string{"graph"}, []string{"flowrun graph: no flow file given"}},
		{[]string{"validate"}, []string{"flowrun validate: no flow file given"}},
		{[]string{"validate", flow, dir}, []string{dir + " is a directory"}},
		{[]string{"schema", "extra"}, []string{`flowrun schema: takes no arguments, got "extra"`}},
		{[]string{"version", "--short"}, []string{"unknown flag --short"}},
		{[]string{"broker", "--partitions", "0"}, []string{"--partitions must be at least 1, not 0"}},
		{[]string{"rnu", flow}, []string{`unknown command "rnu"; did you mean "run"?`, "flowrun help"}},
		{[]string{"--verison"}, []string{`unknown flag "--verison"; did you mean "--version"?`}},
		{[]string{"help", "nope"}, []string{`unknown command "nope"`}},
	} {
		code, out, errOut := runCLI(t, tc.args...)
		if code != 2 || out != "" {
			t.Errorf("flowrun %q: exit %d, stdout %q; want exit 2 and nothing on stdout", tc.args, code, out)
		}
		for _, w := range tc.want {
			if !strings.Contains(errOut, w) {
				t.Errorf("flowrun %q: stderr lacks %q:\n%s", tc.args, w, errOut)
			}
		}
	}
}

// Without a file or any arguments, flowrun prints what it can do (on
// stderr, since nothing was asked for) and exits 2.
func TestNoArgumentsPrintsUsage(t *testing.T) {
	code, out, errOut := runCLI(t)
	if code != 2 || out != "" || !strings.Contains(errOut, "flowrun run [flags] FILE") {
		t.Fatalf("exit %d, stdout %q, stderr %q", code, out, errOut)
	}
}
