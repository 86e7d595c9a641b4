// Command workload is the file workload of `make bench` (issue 2, Speed):
// it generates a file of JSON payment events once (cached in bench/out/),
// builds the flowrun binary, runs workloads W1-W4 from `file` to `drop`
// and to `stdout` (into /dev/null), each as its own process, and measures
// wall time, CPU time and peak RSS. Each run's summary line is checked against
// counts computed while generating. In the same invocation it measures
// the ceiling: W2's work in a bare Go loop, on one goroutine and on
// GOMAXPROCS. The table goes to stdout and to bench/out/results.md.
//
// -tuned also runs every workload with the given top-level settings, and
// -baseline also runs them (and the tuned ones) with another flowrun
// binary, a build of main say, all in the same rounds:
//
//	go run ./bench/workload [-lines N] [-runs N] [-workloads W2,W3] [-sinks drop] [-profile]
//	    [-tuned "concurrency: 2, max_demand: 2000"] [-baseline /tmp/flowrun-main]
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	goruntime "runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

type options struct {
	lines     int
	runs      int
	outDir    string
	workloads []string
	sinks     []string
	ceiling   bool
	profile   bool
	tuned     string // top-level YAML lines
	baseline  string // another flowrun binary
}

func main() {
	// Child mode: run one ceiling variant and report its count on stderr.
	child := flag.String("ceiling-child", "", "internal: run the serial or parallel ceiling over -data")
	childData := flag.String("data", "", "internal: the data file of -ceiling-child")

	var o options
	var wl, sk, tuned string
	flag.IntVar(&o.lines, "lines", 1_000_000, "lines of the generated data file")
	flag.IntVar(&o.runs, "runs", 3, "runs of each measurement, in rounds; the table shows the median (this machine is shared: one run is noise)")
	flag.StringVar(&o.outDir, "out", "bench/out", "directory for the data, binary, flows and results (relative to the module root)")
	flag.StringVar(&wl, "workloads", "W1,W2,W3,W4", "comma-separated workloads to run")
	flag.StringVar(&sk, "sinks", "drop,stdout", "comma-separated sinks to run them to")
	flag.BoolVar(&o.ceiling, "ceiling", true, "measure the bare Go loop ceiling")
	flag.BoolVar(&o.profile, "profile", false, "write a CPU profile of every flow run to OUT/<flow>.prof (flowrun run --cpuprofile)")
	flag.StringVar(&tuned, "tuned", "", `also run every workload with these top-level settings, e.g. "concurrency: 2, max_demand: 2000"`)
	flag.StringVar(&o.baseline, "baseline", "", "also run every workload (and -tuned) with this flowrun binary, e.g. a build of main")
	flag.Parse()

	if *child != "" {
		if err := runCeilingChild(*child, *childData); err != nil {
			fmt.Fprintln(os.Stderr, "bench/workload:", err)
			os.Exit(1)
		}
		return
	}
	var err error
	if o.workloads, err = pick(wl, "workload", "W1", "W2", "W3", "W4"); err == nil {
		o.sinks, err = pick(sk, "sink", "drop", "stdout")
	}
	if err == nil {
		o.tuned, err = parseSettings(tuned)
	}
	if err == nil && (o.lines < 1 || o.runs < 1) {
		err = fmt.Errorf("-lines and -runs must be at least 1, got %d and %d", o.lines, o.runs)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench/workload:", err)
		os.Exit(2)
	}

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := bench(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "bench/workload:", err)
		stop()
		os.Exit(1)
	}
}

// pick splits a comma-separated flag value and checks every item.
func pick(list, what string, valid ...string) ([]string, error) {
	var out []string
	for item := range strings.SplitSeq(list, ",") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		if !slices.Contains(valid, item) {
			return nil, fmt.Errorf("unknown %s %q; use %s", what, item, strings.Join(valid, ", "))
		}
		out = append(out, item)
	}
	return out, nil
}

func bench(ctx context.Context, o options) error {
	root, err := moduleRoot()
	if err != nil {
		return err
	}
	outDir := o.outDir
	if !filepath.IsAbs(outDir) {
		outDir = filepath.Join(root, outDir)
	}
	if err := os.MkdirAll(outDir, 0o755); err != nil {
		return err
	}

	start := time.Now()
	data, st, err := dataFiles(outDir, o.lines)
	if err != nil {
		return err
	}
	progress("data %s: %d lines, %d EUR over 500 (%s)", data, st.Lines, st.W2Matches, time.Since(start).Round(time.Millisecond))
	if err := warm(data); err != nil {
		return err
	}

	bin, err := buildFlowrun(ctx, root, outDir)
	if err != nil {
		return err
	}
	rows, jobs, err := plan(ctx, o, root, bin, outDir, data, st)
	if err != nil {
		return err
	}
	// Rounds: every measurement once per round, so a burst of load from
	// something else on the machine spreads over all rows, not one.
	for round := range o.runs {
		for i, job := range jobs {
			r := &rows[i]
			if r.Problem != "" {
				continue
			}
			m, note, err := job()
			if err != nil {
				r.Problem = err.Error()
				progress("%s to %s: %v", r.Workload, r.Sink, err)
				continue
			}
			r.Runs = append(r.Runs, m)
			progress("%s %s to %s%s run %d/%d: %s (CPU %s), %.1f MiB%s", r.Workload, r.What, r.Sink, r.variantNote(), round+1, o.runs,
				m.Elapsed.Round(time.Millisecond), m.CPU.Round(time.Millisecond), float64(m.MaxRSS)/1024, note)
			if ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
	setRatios(rows, st.Lines)
	setTunedRatios(rows, st.Lines)

	md := markdown(rows, st, o.runs, time.Now())
	fmt.Print(md)
	results := filepath.Join(outDir, "results.md")
	if err := os.WriteFile(results, []byte(md), 0o644); err != nil {
		return err
	}
	progress("wrote %s", results)
	var failed []error
	for _, r := range rows {
		if r.Problem != "" {
			failed = append(failed, fmt.Errorf("%s to %s: %s", r.Workload, r.Sink, r.Problem))
		}
	}
	return errors.Join(failed...)
}

// plan lists the rows of the table and, for each, the job that measures
// it once and checks the result.
func plan(ctx context.Context, o options, root, bin, outDir, data string, st stats) ([]row, []func() (measurement, string, error), error) {
	var (
		rows []row
		jobs []func() (measurement, string, error)
	)
	if o.ceiling {
		self, err := os.Executable()
		if err != nil {
			return nil, nil, err
		}
		for _, mode := range []string{"serial", "parallel"} {
			rows = append(rows, row{Workload: "ceiling", What: ceilingWhat(mode), Sink: "io.Discard"})
			jobs = append(jobs, func() (measurement, string, error) {
				m, stderr, err := runProcess(ctx, root, self, "-ceiling-child", mode, "-data", data)
				if err == nil {
					err = checkCeiling(stderr, st)
				}
				return m, "", err
			})
		}
	}
	for _, w := range workloads {
		if !slices.Contains(o.workloads, w.Name) {
			continue
		}
		for _, sink := range o.sinks {
			for _, v := range variants(bin, o.baseline, o.tuned) {
				rows = append(rows, row{Workload: w.Name, What: w.What, Sink: sink, Variant: v.Label})
				jobs = append(jobs, func() (measurement, string, error) {
					m, s, err := runFlow(ctx, root, v, outDir, data, w, sink, o.profile)
					if err == nil {
						err = check(w, sink, s, st)
					}
					return m, fmt.Sprintf(" (in %d, out %d, filtered %d)", s.In, s.Out, s.Filtered), err
				})
			}
		}
	}
	return rows, jobs, nil
}

// setRatios compares the W2 rows with the parallel ceiling.
func setRatios(rows []row, lines int) {
	var ceiling float64
	for _, r := range rows {
		if r.Workload == "ceiling" && r.What == ceilingWhat("parallel") && r.Problem == "" {
			ceiling = r.rate(lines)
		}
	}
	for i := range rows {
		if rows[i].Workload == "W2" && rows[i].Problem == "" && ceiling > 0 {
			rows[i].Ratio = rows[i].rate(lines) / ceiling
		}
	}
}

func ceilingWhat(mode string) string {
	if mode == "serial" {
		return "bare Go loop W2, 1 goroutine"
	}
	return "bare Go loop W2, " + strconv.Itoa(goruntime.GOMAXPROCS(0)) + " goroutines"
}

// runCeilingChild is the child process of one ceiling measurement.
func runCeilingChild(mode, data string) error {
	var n int
	var err error
	switch mode {
	case "serial":
		n, err = ceilingSerial(data)
	case "parallel":
		n, err = ceilingParallel(data, goruntime.GOMAXPROCS(0))
	default:
		return fmt.Errorf("unknown -ceiling-child %q; use serial or parallel", mode)
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "ceiling: matches %d\n", n)
	return nil
}

// checkCeiling checks that the ceiling filtered what the generator counted.
func checkCeiling(stderr []byte, st stats) error {
	var n int
	if _, err := fmt.Sscanf(string(stderr), "ceiling: matches %d", &n); err != nil {
		return fmt.Errorf("no match count in the ceiling's stderr %q: %w", tail(stderr, 500), err)
	}
	if n != st.W2Matches {
		return fmt.Errorf("ceiling kept %d lines, want %d (EUR over 500)", n, st.W2Matches)
	}
	return nil
}

// warm reads the data file once so every measurement finds it in the page cache.
func warm(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(io.Discard, f)
	return err
}

// moduleRoot is the nearest directory up from here with flowrun's go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil &&
			strings.Contains(string(b), "module github.com/flowrun/flowrun\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("not inside the flowrun module; run from the repository (go run ./bench/workload)")
		}
		dir = parent
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench/workload: "+format+"\n", args...)
}
