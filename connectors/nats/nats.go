// Package nats is the `nats` connector: NATS JetStream streams through a
// durable pull consumer (source) and asynchronous, acknowledged publishes
// (sink, dead letter).
//
// Message conventions (the same as watermill-nats' NATSMarshaler, so
// flowrun and watermill programs interoperate):
//   - the body is the NATS message data, untouched;
//   - every metadata entry is a NATS header of the same name;
//   - the message id travels in the `_watermill_message_uuid` header;
//     a message without it gets `<stream>-<stream sequence>`, which stays
//     the same on redelivery;
//   - the key travels in the `_flowrun_key` header (NATS has no keys);
//   - reserved `Nats-*` headers are not metadata; a header sent several
//     times becomes one entry, its values joined with ", ";
//   - the topic is the message's subject.
//
// Demand: the consumer's MaxAckPending is the flow's in-flight limit, so
// the server never hands out more unacknowledged messages than the flow
// can hold, however many the stream keeps. Ack is a JetStream ack, Nack a
// NAK with redelivery_delay. An unacknowledged message (a crash) comes
// back after ack_wait.
package nats

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/flowrun/flowrun/connectors/internal/resend"
	"github.com/flowrun/flowrun/registry"
	"github.com/nats-io/nats.go"
)

// defaultURL is used when neither url nor $NATS_URL is set.
const defaultURL = "nats://127.0.0.1:4222"

// keyHeader carries the message key.
const keyHeader = "_flowrun_key"

func init() {
	registry.RegisterConnector(&registry.ConnectorSpec{
		Name:         "nats",
		Summary:      "NATS JetStream: a durable pull consumer bounded by the flow's demand (source) and acknowledged publishes (sink, dead letter)",
		SourceFields: sourceFields,
		Redelivers:   true,
		SinkFields:   sinkFields,
		Source: func(ctx context.Context, cfg registry.Config, env registry.Env) (registry.Source, error) {
			return newSource(ctx, cfg, env)
		},
		Sink: func(ctx context.Context, cfg registry.Config, env registry.Env) (registry.Sink, error) {
			return newSink(ctx, cfg, env)
		},
		Check: check,
		ValidateSource: func(cfg registry.Config) error {
			if cfg.String("stream") == "" {
				return registry.At(fmt.Errorf("the source needs the stream to read; set stream"), "stream")
			}
			return validateSecurity(cfg)
		},
		ValidateSink: validateSecurity,
	})
}

var connFields = []registry.Field{
	{Name: "url", Type: registry.String,
		Doc: "server URL(s), comma-separated (default: $NATS_URL, else " + defaultURL + ")"},
	{Name: "connect_timeout", Type: registry.Duration, Default: 5 * time.Second, Min: registry.F(0.001),
		Doc: "how long the first connection may take; later reconnects retry forever"},
	{Name: "stream", Type: registry.String, Target: true,
		Doc: "the JetStream stream; the source requires it, a sink needs it only to create the stream"},
	{Name: "create", Type: registry.Bool, Default: true,
		Doc: "create the stream (file storage, capturing subject) when it does not exist"},
}

var sourceFields = append(append(append([]registry.Field{}, connFields...), securityFields...),
	registry.Field{Name: "subject", Type: registry.String, Target: true,
		Doc: "only messages on this subject (wildcards allowed); default: all of the stream. Also the stream's subject when it is created"},
	registry.Field{Name: "durable", Type: registry.String,
		Doc: "durable consumer name; replicas with the same name share the messages (default: the flow's name)"},
	registry.Field{Name: "deliver", Type: registry.String, Default: "all", Enum: []string{"all", "new"},
		Doc: "where a new durable consumer starts: all (the oldest message kept) or new"},
	registry.Field{Name: "ack_wait", Type: registry.Duration, Default: 30 * time.Second, Min: registry.F(0.001),
		Doc: "how long the server waits for an ack before delivering the message again (after a crash)"},
	registry.Field{Name: "redelivery_delay", Type: registry.Duration, Default: 100 * time.Millisecond,
		Doc: "wait before a nacked message is delivered again"},
	registry.Field{Name: "max_ack_pending", Type: registry.Int, Min: registry.F(1),
		Doc: "most messages out and unacknowledged (default: the flow's in-flight limit, concurrency x max_demand plus batches)"},
)

var sinkFields = append(append(append([]registry.Field{}, connFields...), securityFields...),
	registry.Field{Name: "subject", Type: registry.String, Target: true, Required: true,
		Doc: "the subject to publish to; a stream must capture it (see stream and create)"},
	registry.Field{Name: "max_pending", Type: registry.Int, Default: 4096, Min: registry.F(1),
		Doc: "most publishes waiting for the server's acknowledgement at once"},
	resend.Field,
)

// serverURL is url, else $NATS_URL, else the local default.
func serverURL(cfg registry.Config) string {
	if u := strings.TrimSpace(cfg.String("url")); u != "" {
		return u
	}
	if u := os.Getenv("NATS_URL"); u != "" {
		return u
	}
	return defaultURL
}

// connect opens a connection that reconnects forever: a restarting
// server causes waiting (backpressure), never a failed flow. onErr, when
// set, also gets the server's asynchronous errors (a refused subject).
func connect(ctx context.Context, cfg registry.Config, env registry.Env, logger *slog.Logger, onErr func(error)) (*nats.Conn, error) {
	url := serverURL(cfg)
	sec, err := readSecurity(cfg)
	if err != nil {
		return nil, err
	}
	opts := []nats.Option{
		nats.Name("flowrun-" + env.Flow + "-" + env.Role),
		nats.Timeout(cfg.Duration("connect_timeout")),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(500 * time.Millisecond),
		nats.DisconnectErrHandler(func(_ *nats.Conn, err error) {
			if err != nil { // nil: closed on purpose
				logger.Warn("nats disconnected; reconnecting", "servers", strings.Join(hosts(url), ","), "err", err)
			}
		}),
		nats.ReconnectHandler(func(*nats.Conn) { logger.Info("nats reconnected", "servers", strings.Join(hosts(url), ",")) }),
		nats.ErrorHandler(func(_ *nats.Conn, _ *nats.Subscription, err error) {
			logger.Error("nats error", "servers", strings.Join(hosts(url), ","), "err", err)
			if onErr != nil {
				onErr(err)
			}
		}),
	}
	timeout := cfg.Duration("connect_timeout")
	if timeout <= 0 {
		timeout = 5 * time.Second
		opts[1] = nats.Timeout(timeout)
	}
	nc, err := nats.Connect(url, append(opts, sec.opts...)...)
	if err != nil {
		return nil, explain(ctx, url, sec, timeout, err)
	}
	return nc, nil
}
