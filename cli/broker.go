package cli

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/flowrun/flowrun/connectors/kafka/broker"
)

func init() {
	extra = append(extra, command{"broker", "[--addr HOST:PORT] [--partitions N] [--data-dir DIR]",
		"start an in-process Kafka broker for local development (not for production)", brokerCmd})
}

// brokerCmd is `flowrun broker`: a thin wrapper over broker.Run.
func brokerCmd(args []string, io IO) int {
	fs := newFlags("broker", io, "[--addr HOST:PORT] [--partitions N] [--data-dir DIR]")
	addr := fs.String("addr", envOr("FLOWRUN_BROKER_ADDR", broker.DefaultAddr), "address to listen on; clients are told to connect to it (env FLOWRUN_BROKER_ADDR)")
	partitions := fs.Int("partitions", 1, "partitions of topics created on first use")
	dataDir := fs.String("data-dir", "", "keep topics, messages and committed offsets in this directory across restarts (default: memory only)")
	logLevel := fs.String("log-level", envOr("FLOWRUN_LOG_LEVEL", "info"), "debug, info, warn or error (debug logs every request)")
	_, err := fs.parse(args, nil)
	if err == nil && *partitions < 1 {
		err = usageErrorf("--partitions must be at least 1, not %d", *partitions)
	}
	if err != nil {
		return fs.exit(err)
	}
	logger, err := newLogger(io, "text", *logLevel)
	if err != nil {
		fmt.Fprintln(io.Stderr, "flowrun broker:", err)
		return ExitUsage
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err = broker.Run(ctx, broker.Options{
		Addr: *addr, Partitions: *partitions, DataDir: *dataDir, Logger: logger,
		Ready: func(listen string) {
			fmt.Fprintf(io.Stdout, "kafka broker listening on %s (development only; stop with Ctrl-C)\n", listen)
		},
	})
	if err != nil {
		fmt.Fprintln(io.Stderr, "flowrun broker:", err)
		return ExitFailure
	}
	return ExitOK
}
