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
	rest, err := parse(fs, args)
	if err != nil || len(rest) != 0 {
		if err == nil {
			fs.Usage()
		}
		return ExitUsage
	}
	if *partitions < 1 {
		fmt.Fprintln(io.Stderr, "flowrun broker: --partitions must be at least 1")
		return ExitUsage
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
