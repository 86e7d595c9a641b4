package cli

import (
	"context"
	"errors"
	"fmt"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/tap"
)

func init() {
	extra = append(extra, command{"tap",
		"[--addr HOST:PORT] [--stage NAME | --dead-letter] [--where EXPR] [--rate N/s] [--limit N]",
		"print samples of the messages flowing through a run started with --tap, one JSON line each", tapCmd})
}

const tapExitCodes = `
Each line is {"edge","time","id","key","topic","meta","payload"}: the
payload as the next node gets it, its exact bytes where it is JSON.
Without --stage, the messages that reach the sinks. The run masks its
secrets and the fields of its --redact and of yours.

Exit codes:
  0  the limit was reached, or the run ended the stream
  1  the run cannot be reached, has no tap (start it with --tap), or refused the request
  2  wrong usage (flags, arguments)
`

func tapCmd(args []string, io IO) int {
	fs := newFlags("tap", io, "[flags]")
	fs.epilog = tapExitCodes
	addr := fs.String("addr", envOr("FLOWRUN_HTTP_ADDR", DefaultHTTPAddr), "the run's --http-addr (env FLOWRUN_HTTP_ADDR)")
	stage := fs.String("stage", "", "what to sample: a stage's output, source, a batch stage's batches, or what reaches sink `NAME`")
	deadLetter := fs.Bool("dead-letter", false, "sample what goes to the dead letter")
	where := fs.String("where", "", "only messages for which this expression is true, e.g. 'payload.amount > 100'")
	rateFlag := fs.String("rate", "", "at most `N` messages per second, written 10/s or 10 (default: all the tap keeps up with)")
	limit := fs.Int("limit", 0, "exit after N messages (0: until the run ends or Ctrl-C)")
	redactFlag := fs.String("redact", "", "mask these `FIELDS` too: key, meta.NAME, payload.PATH, comma-separated")
	token := fs.String("token", envOr("FLOWRUN_TAP_TOKEN", ""), "the run's tap token (env FLOWRUN_TAP_TOKEN)")
	flow := fs.String("flow", "", "in a run of several flows, the flow `NAME` to tap (see the run's /flows)")
	_, err := fs.parse(args, nil)
	req := tap.Request{Addr: *addr, Flow: *flow, Token: *token, Stage: *stage, DeadLetter: *deadLetter, Where: *where,
		Redact: *redactFlag, Limit: *limit}
	if err == nil {
		err = checkTap(&req, *rateFlag)
	}
	if err != nil {
		return fs.exit(err)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	n, err := tap.Stream(ctx, req, io.Stdout, func(notice string) {
		fmt.Fprintln(io.Stderr, "flowrun tap:", describeNotice(notice))
	})
	switch {
	case errors.Is(err, tap.ErrEnded):
		fmt.Fprintf(io.Stderr, "flowrun tap: the run ended the stream after %d message(s)\n", n)
	case err != nil:
		fmt.Fprintln(io.Stderr, "flowrun tap:", err)
		return ExitFailure
	}
	return ExitOK
}

// checkTap checks the flags the run would refuse, before connecting:
// a --where that does not compile gets its caret here.
func checkTap(req *tap.Request, rate string) error {
	if req.DeadLetter && req.Stage != "" {
		return usageErrorf("--stage and --dead-letter: choose one")
	}
	if req.Limit < 0 {
		return usageErrorf("--limit must be >= 0")
	}
	if rate != "" {
		n, err := strconv.ParseFloat(strings.TrimSuffix(rate, "/s"), 64)
		if err != nil || n <= 0 {
			return usageErrorf("--rate %q: want messages per second, such as 10/s", rate)
		}
		req.Rate = n
	}
	if _, err := tap.ParseFields(req.Redact); err != nil {
		return usageErrorf("%v", err)
	}
	if req.Where != "" {
		if _, err := expression.Compile(req.Where, expression.MessageScope); err != nil {
			return usageErrorf("--where: %v", tap.WhereError(req.Where, err))
		}
	}
	return nil
}

// describeNotice turns a notice line of the stream into words.
func describeNotice(line string) string {
	const prefix = `{"notice":"dropped","dropped":`
	if n, ok := strings.CutPrefix(line, prefix); ok {
		return strings.TrimSuffix(n, "}") + " sample(s) dropped so far: this tap did not keep up (the flow was not slowed)"
	}
	return line
}
