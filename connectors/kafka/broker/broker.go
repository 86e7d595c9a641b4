// Package broker runs a Kafka-protocol broker in the process, for local
// development and tests (`flowrun broker`). It is franz-go's kfake: one
// node, topics created on first use, data in memory or in a directory.
// It is for development only: no replication, no tuning, and no
// guarantee of Kafka's durability or performance. It can serve TLS and
// SASL (PLAIN, SCRAM) so secured client settings can be tried locally.
package broker

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/twmb/franz-go/pkg/kfake"
)

// DefaultAddr is where the broker listens unless told otherwise.
const DefaultAddr = "127.0.0.1:9092"

// Options configure Run.
type Options struct {
	// Addr is host:port to listen on (DefaultAddr when empty); port 0
	// picks a free port, reported through Ready. Clients are told to
	// connect back to this same address.
	Addr string
	// Partitions of topics created on first use (default 1).
	Partitions int
	// DataDir keeps topics, messages and committed offsets across
	// restarts when set; without it everything lives in memory.
	DataDir string
	// Logger receives the broker's warnings and errors, and its request
	// log at debug level (default: discarded).
	Logger *slog.Logger
	// TLSCert and TLSKey, when set, are PEM files: the broker then
	// speaks only TLS.
	TLSCert, TLSKey string
	// Users, when any, turn on SASL: clients must authenticate as one.
	Users []User
	// Ready, when set, is called with the listening address once clients
	// can connect.
	Ready func(addr string)
}

// Run starts the broker and serves until ctx ends, then shuts it down
// (saving its state to DataDir when set).
func Run(ctx context.Context, opts Options) error {
	c, err := Start(opts)
	if err != nil {
		return err
	}
	if opts.Ready != nil {
		opts.Ready(c.Addr())
	}
	<-ctx.Done()
	c.Close()
	return nil
}

// Cluster is a started broker.
type Cluster struct {
	*kfake.Cluster
}

// Start starts the broker and returns once it listens; Close stops it.
func Start(opts Options, extra ...kfake.Opt) (*Cluster, error) {
	addr := opts.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	if _, _, err := net.SplitHostPort(addr); err != nil {
		return nil, fmt.Errorf("broker address %q: %w; write it as host:port, e.g. %s", addr, err, DefaultAddr)
	}
	partitions := opts.Partitions
	if partitions <= 0 {
		partitions = 1
	}
	logger := opts.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	kopts := []kfake.Opt{
		kfake.NumBrokers(1),
		kfake.ListenFn(func(network, _ string) (net.Listener, error) { return net.Listen(network, addr) }),
		kfake.AllowAutoTopicCreation(),
		kfake.DefaultNumPartitions(partitions),
		kfake.WithLogger(slogAdapter{logger}),
	}
	if opts.DataDir != "" {
		kopts = append(kopts, kfake.DataDir(opts.DataDir))
	}
	sec, err := securityOpts(opts)
	if err != nil {
		return nil, err
	}
	kopts = append(kopts, sec...)
	c, err := kfake.NewCluster(append(kopts, extra...)...)
	if err != nil {
		return nil, fmt.Errorf("start broker on %s: %w", addr, err)
	}
	logger.Debug("kafka broker listening (development only)", "addr", c.ListenAddrs()[0],
		"partitions", partitions, "data_dir", opts.DataDir, "tls", opts.TLSCert != "", "sasl_users", len(opts.Users))
	return &Cluster{c}, nil
}

// Addr is the address clients connect to.
func (c *Cluster) Addr() string { return c.ListenAddrs()[0] }

// slogAdapter passes kfake's log lines to slog; its per-request info
// lines go to debug.
type slogAdapter struct{ l *slog.Logger }

func (a slogAdapter) Logf(level kfake.LogLevel, format string, args ...any) {
	var l slog.Level
	switch level {
	case kfake.LogLevelError:
		l = slog.LevelError
	case kfake.LogLevelWarn:
		l = slog.LevelWarn
	case kfake.LogLevelInfo:
		l = slog.LevelDebug
	default:
		l = slog.LevelDebug - 4
	}
	if a.l.Enabled(context.Background(), l) {
		a.l.Log(context.Background(), l, "kafka broker: "+fmt.Sprintf(format, args...))
	}
}
