package cli

// ExitUndelivered is run's exit code when the flow ended but did not
// deliver everything it read: messages were lost (the summary line
// counts them) or the drain timed out with messages unacknowledged.
const ExitUndelivered = 3

// runExitCodes ends `flowrun run --help`.
const runExitCodes = `
Exit codes:
  0  the flow ended and every message read was delivered, filtered or dead-lettered
     (or nacked to a source that redelivers it)
  1  the flow is invalid or could not run (a connector could not be opened)
  2  wrong usage (flags, arguments)
  3  the flow ended without delivering everything: messages were lost (failed
     without a dead_letter, or nacked to a source that cannot redeliver: the
     summary line's "lost" count) or the drain timed out with messages unacknowledged
A run of several flows prints one summary line per flow and exits with the
highest of their codes; a flow waiting to restart when the run stops counts as 1.
`
