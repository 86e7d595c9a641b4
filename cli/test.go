package cli

import (
	"context"
	"fmt"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/flowtest"
)

const testUsage = "[--format text|json|junit] [--update] [--verbose] [--timeout D] PATH..."

// testCmd is `flowrun test`: a thin wrapper over flowtest.
func testCmd(args []string, io IO) int {
	fs := newFlags("test", io, testUsage)
	fs.epilog = testEpilog
	format := fs.String("format", "text", "output format: text, json or junit (JUnit XML for CI)")
	update := fs.Bool("update", false, "rewrite each test's expected outputs, dead letters and counts with what the flow produced (golden files)")
	verbose := fs.Bool("verbose", false, "also print the flows' log lines (log stages, failures) to stderr")
	timeout := fs.Duration("timeout", 30*time.Second, "real time one test may take")
	paths, err := fs.parse(args, func(a []string) error {
		if len(a) == 0 {
			return usageErrorf("no path given: a directory, a NAME.test.yaml file or a flow file")
		}
		return nil
	})
	if err == nil && !oneOf(*format, "text", "json", "junit") {
		err = usageErrorf("--format must be text, json or junit, not %q", *format)
	}
	if err != nil {
		return fs.exit(err)
	}
	files, err := flowtest.Find(paths)
	if err == nil && len(files) == 0 {
		err = fmt.Errorf("no test files (NAME%s) in %v", flowtest.Suffix, paths)
	}
	if err != nil {
		fmt.Fprintln(io.Stderr, "flowrun test:", err)
		// CI reads stdout as a report: give it one that says why no test ran.
		none := &flowtest.Report{Files: []*flowtest.FileReport{{File: strings.Join(paths, " "),
			Invalid: diag.List{{Message: err.Error()}}}}}
		switch *format {
		case "json":
			_ = none.JSON(io.Stdout)
		case "junit":
			_ = none.JUnit(io.Stdout)
		}
		return flowtest.ExitFailed
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	opts := flowtest.Options{Timeout: *timeout}
	if *verbose {
		opts.Log = io.Stderr
	}
	report := flowtest.RunFiles(ctx, files, opts)
	if *update && !report.Interrupted {
		changed, notUpdated, err := flowtest.Update(report)
		for _, f := range changed {
			fmt.Fprintf(io.Stderr, "updated %s\n", f)
		}
		for _, n := range notUpdated {
			fmt.Fprintln(io.Stderr, n)
		}
		if err != nil {
			fmt.Fprintln(io.Stderr, "flowrun test:", err)
			return flowtest.ExitFailed
		}
		if len(changed) > 0 { // report what the files now say
			report = flowtest.RunFiles(ctx, files, opts)
		}
	}
	switch *format {
	case "json":
		err = report.JSON(io.Stdout)
	case "junit":
		err = report.JUnit(io.Stdout)
	default:
		report.Text(io.Stdout)
	}
	if err != nil {
		fmt.Fprintln(io.Stderr, "flowrun test:", err)
		return flowtest.ExitFailed
	}
	return report.ExitCode()
}

const testEpilog = `
A test file NAME.test.yaml beside the flow NAME.yaml gives messages and
what must come out; the flow runs on in-memory connectors with batch
timeouts on a virtual clock. See docs/testing.md.

Exit codes:
  0  every test passed
  1  a test failed (or no test was found)
  2  a test file is invalid (or wrong usage)
`
