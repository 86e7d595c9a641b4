package cli

import (
	"context"
	"fmt"
	"os/signal"
	"syscall"

	"github.com/flowrun/flowrun/connectors/kafka/broker"
)

func init() {
	extra = append(extra, command{"broker", brokerUsage,
		"start an in-process Kafka broker for local development (not for production)", brokerCmd})
}

const brokerUsage = "[--addr HOST:PORT] [--partitions N] [--data-dir DIR] [--tls-cert FILE --tls-key FILE] [--sasl MECHANISM:USER:PASSWORD]..."

// brokerCmd is `flowrun broker`: a thin wrapper over broker.Run.
func brokerCmd(args []string, io IO) int {
	fs := newFlags("broker", io, brokerUsage)
	addr := fs.String("addr", envOr("FLOWRUN_BROKER_ADDR", broker.DefaultAddr), "address to listen on; clients are told to connect to it (env FLOWRUN_BROKER_ADDR)")
	partitions := fs.Int("partitions", 1, "partitions of topics created on first use")
	dataDir := fs.String("data-dir", "", "keep topics, messages and committed offsets in this directory across restarts (default: memory only)")
	tlsCert := fs.String("tls-cert", "", "serve TLS only, with this PEM certificate `FILE` (with --tls-key)")
	tlsKey := fs.String("tls-key", "", "PEM private key `FILE` of --tls-cert")
	// Read as text and parsed after: the flag package would quote a bad
	// value, password included, in its error.
	var saslFlags []string
	fs.Func("sasl", "require SASL: a user as `MECHANISM:USER:PASSWORD` (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512); repeat for more users", func(v string) error {
		saslFlags = append(saslFlags, v)
		return nil
	})
	logLevel := fs.String("log-level", envOr("FLOWRUN_LOG_LEVEL", "info"), "debug, info, warn or error (debug logs every request)")
	_, err := fs.parse(args, nil)
	if err == nil && *partitions < 1 {
		err = usageErrorf("--partitions must be at least 1, not %d", *partitions)
	}
	var users []broker.User
	for _, v := range saslFlags {
		if err != nil {
			break
		}
		var u broker.User
		if u, err = broker.ParseUser(v); err != nil {
			err = usageErrorf("%v", err)
		}
		users = append(users, u)
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
		TLSCert: *tlsCert, TLSKey: *tlsKey, Users: users,
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
