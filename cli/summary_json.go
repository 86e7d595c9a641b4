package cli

import (
	"fmt"
	"log/slog"
	"time"

	"github.com/flowrun/flowrun/supervisor"
)

// logSummary is a flow's summary as a log line, for --log-format json
// (printSummary writes the text one).
func logSummary(logger *slog.Logger, r supervisor.Result) {
	s := r.Summary
	attrs := []any{"flow", r.Name, "in", s.In, "out", s.Out, "filtered", s.Filtered,
		"dead_lettered", s.DeadLettered, "nacked", s.Nacked, "discarded", s.Discarded, "lost", s.Lost, "elapsed", s.Elapsed.String(),
		"msgs_per_s", int64(rate(r)), "drain_timed_out", s.DrainTimeout}
	if r.Restarts > 0 || r.Reloads > 0 {
		attrs = append(attrs, "restarts", r.Restarts, "reloads", r.Reloads)
	}
	if r.Err != nil {
		attrs = append(attrs, "error", r.Err.Error())
	}
	logger.Info("flow finished", attrs...)
}

// printSummary is a flow's one summary line on stderr: its runs added
// up when it was restarted or reloaded.
func printSummary(io IO, r supervisor.Result) {
	s := r.Summary
	note := ""
	if r.Restarts > 0 || r.Reloads > 0 {
		note += fmt.Sprintf(" (%d restarts, %d reloads)", r.Restarts, r.Reloads)
	}
	if s.DrainTimeout {
		note += " (drain timed out: unacked messages are redelivered if the source can)"
	}
	fmt.Fprintf(io.Stderr, "flowrun: %s: in %d, out %d, filtered %d, dead-lettered %d, nacked %d, discarded %d, lost %d in %s (%.0f msgs/s)%s\n",
		r.Name, s.In, s.Out, s.Filtered, s.DeadLettered, s.Nacked, s.Discarded, s.Lost, s.Elapsed.Round(time.Millisecond), rate(r), note)
}

func rate(r supervisor.Result) float64 {
	if r.Summary.Elapsed <= 0 {
		return 0
	}
	return float64(r.Summary.In) / r.Summary.Elapsed.Seconds()
}
