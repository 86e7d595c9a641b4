package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// workload is one flow of the Speed section, without its sink.
type workload struct {
	Name   string
	What   string
	Stages string // the `stages:` block, "" for none
}

const w2Stages = `stages:
  - filter: payload.amount > 500 && payload.currency == "EUR"
  - map: '{"id": payload.id, "user": payload.user, "amount_cents": payload.amount * 100, "big": payload.amount > 5000}'
`

var workloads = []workload{
	{Name: "W1", What: "passthrough"},
	{Name: "W2", What: "filter + map", Stages: w2Stages},
	{Name: "W3", What: "filter + map + batch 100", Stages: w2Stages + "  - batch: {size: 100, timeout: 1s}\n"},
	{Name: "W4", What: "keyed batch 1000 + reduce", Stages: `stages:
  - batch: {size: 1000, timeout: 1s, key: payload.country, reduce: '{"country": batch_key, "count": len(batch)}'}
`},
}

// sinks are the sink blocks a workload runs with; stdout goes to /dev/null.
var sinks = map[string]string{"drop": "drop: {}", "stdout": "stdout: {}"}

// flowName is the flow's name, also the stem of its file and profile.
func flowName(w workload, sink string) string {
	return strings.ToLower(w.Name) + "-" + sink
}

// flowFile is the text of workload w reading data and writing to sink,
// with settings (top-level YAML lines) added.
func flowFile(w workload, sink, data, settings string) string {
	return fmt.Sprintf("version: 1\nname: %s\ndescription: bench %s (%s) to %s\nsource:\n  file: {path: %s}\n%s%ssink:\n  %s\n",
		flowName(w, sink), w.Name, w.What, sink, strconv.Quote(data), settings, w.Stages, sinks[sink])
}

// summary is the binary's one-line report of a finite run.
type summary struct {
	Name                                 string
	In, Out, Filtered, DeadLettered, Nak int64
	Discarded, Lost                      int64
}

var summaryLine = regexp.MustCompile(`(?m)^flowrun: (\S+): in (\d+), out (\d+), filtered (\d+), dead-lettered (\d+), nacked (\d+), discarded (\d+), lost (\d+) in \S+ \(\d+ msgs/s\)`)

// parseSummary finds the summary line in a run's stderr.
func parseSummary(stderr []byte) (summary, error) {
	m := summaryLine.FindSubmatch(stderr)
	if m == nil {
		return summary{}, fmt.Errorf("no summary line in stderr:\n%s", tail(stderr, 2000))
	}
	var n [7]int64
	for i := range n {
		v, err := strconv.ParseInt(string(m[i+2]), 10, 64)
		if err != nil {
			return summary{}, fmt.Errorf("summary count %q: %w", m[i+2], err)
		}
		n[i] = v
	}
	return summary{Name: string(m[1]), In: n[0], Out: n[1], Filtered: n[2], DeadLettered: n[3], Nak: n[4],
		Discarded: n[5], Lost: n[6]}, nil
}

// check says what is wrong with a run's summary, given what the runner
// computed while generating the data; nil when all is right.
func check(w workload, sink string, s summary, st stats) error {
	var problems []string
	if want := flowName(w, sink); s.Name != want {
		problems = append(problems, fmt.Sprintf("summary of flow %q, want %q", s.Name, want))
	}
	if s.In != int64(st.Lines) {
		problems = append(problems, fmt.Sprintf("in %d, want %d (every line)", s.In, st.Lines))
	}
	if s.DeadLettered != 0 || s.Nak != 0 || s.Discarded != 0 || s.Lost != 0 {
		problems = append(problems, fmt.Sprintf("dead-lettered %d, nacked %d, discarded %d, lost %d, want none",
			s.DeadLettered, s.Nak, s.Discarded, s.Lost))
	}
	switch w.Name {
	case "W1":
		if s.Out != int64(st.Lines) {
			problems = append(problems, fmt.Sprintf("out %d, want %d (every line)", s.Out, st.Lines))
		}
	case "W2", "W3":
		if s.Out != int64(st.W2Matches) || s.Filtered != int64(st.Lines-st.W2Matches) {
			problems = append(problems, fmt.Sprintf("out %d, filtered %d, want %d and %d (EUR over 500)",
				s.Out, s.Filtered, st.W2Matches, st.Lines-st.W2Matches))
		}
	case "W4":
		// Timeouts may close a batch early, so only bounds are known:
		// at least the full batches per country, at most one per line.
		least := 0
		for _, n := range st.Countries {
			least += (n + 999) / 1000
		}
		if s.Out < int64(least) || s.Out > int64(st.Lines) {
			problems = append(problems, fmt.Sprintf("out %d, want between %d (full batches per country) and %d", s.Out, least, st.Lines))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("%s", strings.Join(problems, "; "))
	}
	return nil
}

// measurement is one process run: wall time from start to exit, the
// peak resident set size the kernel recorded for it and its CPU time.
type measurement struct {
	Elapsed time.Duration
	MaxRSS  int64 // KiB
	// CPU is the process's user and system time: on a shared machine
	// it moves much less than wall time when other work competes.
	CPU time.Duration
}

// runProcess runs cmd with stdout to /dev/null and returns its measurement
// and stderr; a non-zero exit is an error.
func runProcess(ctx context.Context, dir string, args ...string) (measurement, []byte, error) {
	devNull, err := os.OpenFile(os.DevNull, os.O_WRONLY, 0)
	if err != nil {
		return measurement{}, nil, err
	}
	defer devNull.Close()
	var stderr bytes.Buffer
	cmd := exec.CommandContext(ctx, args[0], args[1:]...)
	cmd.Dir, cmd.Stdout, cmd.Stderr = dir, devNull, &stderr
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return measurement{}, nil, fmt.Errorf("start %s: %w", args[0], err)
	}
	err = cmd.Wait()
	m := measurement{Elapsed: time.Since(start), CPU: cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()}
	if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
		m.MaxRSS = ru.Maxrss // KiB on Linux
	}
	if err != nil {
		return m, stderr.Bytes(), fmt.Errorf("%s: %w\n%s", strings.Join(args, " "), err, tail(stderr.Bytes(), 2000))
	}
	return m, stderr.Bytes(), nil
}

// buildFlowrun builds the binary under test once per runner invocation.
func buildFlowrun(ctx context.Context, root, outDir string) (string, error) {
	bin := filepath.Join(outDir, "flowrun")
	cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/flowrun")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build ./cmd/flowrun: %w\n%s", err, out)
	}
	return bin, nil
}

// runFlow writes the flow file of w to sink, as variant v, and runs it once.
func runFlow(ctx context.Context, root string, v variant, outDir, data string, w workload, sink string, profile bool) (measurement, summary, error) {
	stem := filepath.Join(outDir, flowName(w, sink)+v.suffix())
	if err := os.WriteFile(stem+".yaml", []byte(flowFile(w, sink, data, v.Settings)), 0o644); err != nil {
		return measurement{}, summary{}, fmt.Errorf("write flow: %w", err)
	}
	args := []string{v.Bin, "run", "--http-addr", "", "--log-level", "warn"}
	if profile {
		args = append(args, "--cpuprofile", stem+".prof")
	}
	m, stderr, err := runProcess(ctx, root, append(args, stem+".yaml")...)
	if err != nil {
		return m, summary{}, err
	}
	s, err := parseSummary(stderr)
	return m, s, err
}

// tail is the end of b, for error messages.
func tail(b []byte, n int) []byte {
	if len(b) > n {
		return b[len(b)-n:]
	}
	return b
}
