package cli

import (
	"log/slog"

	"github.com/flowrun/flowrun/runtime"
)

// logSummary is the run's summary as a log line, for --log-format json
// (printSummary writes the text one).
func logSummary(logger *slog.Logger, flow string, s runtime.Summary) {
	rate := 0.0
	if s.Elapsed > 0 {
		rate = float64(s.In) / s.Elapsed.Seconds()
	}
	logger.Info("flow finished", "flow", flow, "in", s.In, "out", s.Out, "filtered", s.Filtered,
		"dead_lettered", s.DeadLettered, "nacked", s.Nacked, "discarded", s.Discarded, "lost", s.Lost, "elapsed", s.Elapsed.String(),
		"msgs_per_s", int64(rate), "drain_timed_out", s.DrainTimeout)
}
