package main

import (
	"bufio"
	"fmt"
	"os"
	goruntime "runtime"
	"slices"
	"strings"
	"time"
)

// row is one line of the results table: the median of its runs.
type row struct {
	Workload, What, Sink string
	Variant              string // "" for the ceiling; see variant
	Runs                 []measurement
	Ratio                float64 // msgs/s over the ceiling's; 0 when not shown
	VsTuned              float64 // msgs/s over the tuned variant's; 0 when not shown
	Problem              string  // why the run is wrong, "" when right
}

// variantNote names the variant in progress lines, when not the defaults.
func (r row) variantNote() string {
	if r.Variant == "" || r.Variant == "defaults" {
		return ""
	}
	return " (" + r.Variant + ")"
}

// median is the median elapsed time of the runs and the largest peak
// RSS: memory targets are about the worst case.
func (r row) median() (time.Duration, int64) {
	ds := make([]time.Duration, 0, len(r.Runs))
	var rss int64
	for _, m := range r.Runs {
		ds = append(ds, m.Elapsed)
		rss = max(rss, m.MaxRSS)
	}
	if len(ds) == 0 {
		return 0, 0
	}
	slices.Sort(ds)
	if len(ds)%2 == 1 {
		return ds[len(ds)/2], rss
	}
	return (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2, rss
}

// cpu is the median CPU time of the runs.
func (r row) cpu() time.Duration {
	ds := make([]time.Duration, 0, len(r.Runs))
	for _, m := range r.Runs {
		ds = append(ds, m.CPU)
	}
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	if len(ds)%2 == 1 {
		return ds[len(ds)/2]
	}
	return (ds[len(ds)/2-1] + ds[len(ds)/2]) / 2
}

func (r row) rate(lines int) float64 {
	d, _ := r.median()
	if d <= 0 {
		return 0
	}
	return float64(lines) / d.Seconds()
}

// machine describes where the figures were taken.
func machine() string {
	cpu := "unknown"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	return fmt.Sprintf("%d CPUs (GOMAXPROCS %d), %s, %s %s/%s",
		goruntime.NumCPU(), goruntime.GOMAXPROCS(0), cpu, goruntime.Version(), goruntime.GOOS, goruntime.GOARCH)
}

// markdown renders the results, the machine and the targets.
func markdown(rows []row, st stats, runs int, when time.Time) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# flowrun workload benchmark\n\n")
	fmt.Fprintf(&b, "%s; %d lines (%.1f MiB) of JSON payment events, %d EUR over 500; ",
		when.UTC().Format(time.RFC3339), st.Lines, float64(st.Bytes)/(1<<20), st.W2Matches)
	fmt.Fprintf(&b, "median of %d run(s), peak RSS the largest of them; every figure is one process, wall time from start to exit, CPU its user + system time.\n\n", runs)
	fmt.Fprintf(&b, "Machine: %s\n\n", machine())
	variants := slices.ContainsFunc(rows, func(r row) bool { return r.Variant != "" && r.Variant != "defaults" })
	if variants {
		b.WriteString("| workload | sink | variant | msgs/s | elapsed | CPU | peak RSS MiB | vs ceiling | vs tuned |\n")
		b.WriteString("| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |\n")
	} else {
		b.WriteString("| workload | sink | msgs/s | elapsed | CPU | peak RSS MiB | vs ceiling |\n")
		b.WriteString("| --- | --- | ---: | ---: | ---: | ---: | ---: |\n")
	}
	for _, r := range rows {
		d, rss := r.median()
		name := strings.TrimSpace(r.Workload + " " + r.What)
		cells := []string{name, r.Sink}
		if variants {
			cells = append(cells, r.Variant)
		}
		if r.Problem != "" {
			cells = append(cells, "FAILED: "+strings.ReplaceAll(r.Problem, "\n", " "), "", "", "", "")
		} else {
			cells = append(cells, fmt.Sprintf("%.0f", r.rate(st.Lines)), d.Round(time.Millisecond).String(),
				r.cpu().Round(time.Millisecond).String(), fmt.Sprintf("%.1f", float64(rss)/1024), ratioCell(r.Ratio))
		}
		if variants {
			cells = append(cells, ratioCell(r.VsTuned))
		}
		b.WriteString("| " + strings.Join(cells, " | ") + " |\n")
	}
	b.WriteString("\nThe ceiling is W2's work (goccy/go-json decode into map[string]any, filter, map, encode, write to io.Discard) in a bare Go loop with no graph; the ratio is against the parallel one.\n")
	b.WriteString(targets(rows, st))
	return b.String()
}

func ratioCell(r float64) string {
	if r <= 0 {
		return ""
	}
	return fmt.Sprintf("%.2f", r)
}

// targets checks the figures against the Speed targets.
func targets(rows []row, st stats) string {
	find := func(w, sink string) *row {
		for i := range rows {
			if rows[i].Workload == w && rows[i].Sink == sink && rows[i].Variant == "defaults" && rows[i].Problem == "" && len(rows[i].Runs) > 0 {
				return &rows[i]
			}
		}
		return nil
	}
	yes := func(ok bool) string {
		if ok {
			return "met"
		}
		return "NOT met"
	}
	var b strings.Builder
	b.WriteString("\nTargets of issue 2 on this machine:\n\n")
	if w2 := find("W2", "drop"); w2 != nil {
		fmt.Fprintf(&b, "- W2 to drop >= 400,000 msgs/s: %.0f, %s\n", w2.rate(st.Lines), yes(w2.rate(st.Lines) >= 400_000))
		if w2.Ratio > 0 {
			fmt.Fprintf(&b, "- W2 to drop >= half the parallel ceiling: %.2f, %s\n", w2.Ratio, yes(w2.Ratio >= 0.5))
		}
		if w2.VsTuned > 0 {
			fmt.Fprintf(&b, "- W2 to drop at defaults within 15%% of tuned (issue 10): %.2f of tuned, %s\n", w2.VsTuned, yes(w2.VsTuned >= 0.85))
		}
		if w1 := find("W1", "drop"); w1 != nil {
			fmt.Fprintf(&b, "- W1 faster than W2 (to drop): %.0f vs %.0f, %s\n", w1.rate(st.Lines), w2.rate(st.Lines), yes(w1.rate(st.Lines) > w2.rate(st.Lines)))
		}
	}
	var worst int64
	worstName := ""
	for _, r := range rows {
		if _, rss := r.median(); r.Variant == "defaults" && rss > worst {
			worst, worstName = rss, r.Workload+" to "+r.Sink
		}
	}
	if worstName != "" {
		fmt.Fprintf(&b, "- peak RSS of every flow < 40 MiB: largest %.1f MiB (%s), %s\n", float64(worst)/1024, worstName, yes(worst < 40*1024))
	}
	return b.String()
}
