// Package redis is the `redis` connector: Redis Streams read through a
// consumer group (source) and appended with XADD (sink, dead letter).
//
// Message conventions (watermill-redisstream's, so flowrun and watermill
// programs interoperate), one stream entry per message:
//   - field `payload`: the body, untouched;
//   - field `_watermill_message_uuid`: the message id;
//   - field `metadata`: the metadata, a msgpack map of strings;
//   - field `_flowrun_key`: the key (absent when empty).
//
// Entries written by other programs are read too: without the uuid
// field the id is the entry id (1700000000000-0); without a `payload`
// field the body is a JSON object of all the entry's fields; other
// plain fields become metadata. The topic is the stream name.
//
// Delivery: Read runs XREADGROUP for at most the open demand and never
// holds more than the flow's in-flight limit unacknowledged (Redis has
// no prefetch knob: the source counts). Ack is XACK, batched. Nack keeps
// the entry pending and hands it out again after redelivery_delay. A
// crashed consumer's entries are delivered again: at once when it comes
// back under the same consumer name (it first re-reads its own pending
// entries), else by any consumer of the group once idle for claim_idle
// (XAUTOCLAIM).
//
// Redis keeps streams only as durably as it is configured to: a server
// started without persistence (--save "" --appendonly no) loses every
// stream when it stops, except through SHUTDOWN SAVE.
package redis

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"

	"github.com/flowrun/flowrun/connectors/internal/inflight"
	"github.com/flowrun/flowrun/connectors/internal/resend"
	"github.com/flowrun/flowrun/connectors/internal/tlsconf"
	"github.com/flowrun/flowrun/registry"
	goredis "github.com/redis/go-redis/v9"
)

// defaultURL is used when neither url nor $REDIS_URL is set.
const defaultURL = "redis://127.0.0.1:6379/0"

// keyField carries the message key.
const keyField = "_flowrun_key"

func init() {
	registry.RegisterConnector(&registry.ConnectorSpec{
		Name:         "redis",
		Summary:      "Redis Streams: a consumer group read against demand (source) and XADD (sink, dead letter)",
		SourceFields: sourceFields,
		Redelivers:   true,
		SinkFields:   sinkFields,
		Source: func(ctx context.Context, cfg registry.Config, env registry.Env) (registry.Source, error) {
			return newSource(ctx, cfg, env)
		},
		Sink: func(ctx context.Context, cfg registry.Config, env registry.Env) (registry.Sink, error) {
			return newSink(ctx, cfg, env)
		},
		Check:          check,
		ValidateSource: validateURL,
		ValidateSink:   validateURL,
	})
}

var connFields = []registry.Field{
	{Name: "url", Type: registry.String,
		Doc: "redis://[user:password@]host:port/db or rediss:// for TLS (default: $REDIS_URL, else " + defaultURL + ")"},
	{Name: "username", Type: registry.String, Doc: "ACL user name, e.g. \"${REDIS_USER}\" (overrides the url's; default: the default user)"},
	{Name: "password", Type: registry.String, Secret: true, Doc: "password of the ACL user (or of requirepass), e.g. \"${file:/run/secrets/redis-password}\" (overrides the url's)"},
	tlsconf.Field("server"),
	{Name: "stream", Type: registry.String, Target: true, Required: true, Doc: "the stream (key) to read or append to"},
}

var sourceFields = append(append([]registry.Field{}, connFields...),
	registry.Field{Name: "group", Type: registry.String,
		Doc: "consumer group; replicas in one group share the entries (default: the flow's name)"},
	registry.Field{Name: "consumer", Type: registry.String,
		Doc: "this replica's consumer name, unique per replica and stable across restarts (default: the host name)"},
	registry.Field{Name: "start", Type: registry.String, Default: "oldest", Enum: []string{"oldest", "newest"},
		Doc: "where a new group starts: the oldest entry kept, or entries added from now on"},
	registry.Field{Name: "block", Type: registry.Duration, Default: time.Second, Min: registry.F(0.001),
		Doc: "longest wait of one XREADGROUP; bounds how late a stop or a due redelivery is noticed"},
	registry.Field{Name: "claim_idle", Type: registry.Duration, Default: 30 * time.Second, Min: registry.F(0.001),
		Doc: "an entry delivered to another consumer and unacknowledged this long is taken over (that consumer died)"},
	registry.Field{Name: "redelivery_delay", Type: registry.Duration, Default: 100 * time.Millisecond,
		Doc: "wait before a nacked entry is handed out again; doubled at each nack of the same entry, up to redelivery_max_delay"},
	registry.Field{Name: "redelivery_max_delay", Type: registry.Duration, Default: inflight.DefaultRedeliveryMaxDelay,
		Doc: "longest wait before a entry nacked again and again is handed out again"},
	registry.Field{Name: "max_in_flight", Type: registry.Int, Min: registry.F(1),
		Doc: "most entries handed out and unacknowledged (default: the flow's in-flight limit)"},
)

var sinkFields = append(append([]registry.Field{}, connFields...),
	registry.Field{Name: "max_len", Type: registry.Int, Default: 0, Min: registry.F(0),
		Doc: "trim the stream to about this many entries on each XADD (0: never trim; trimming drops entries no group has read yet)"},
	resend.Field,
)

// options builds go-redis options from url, username, password and
// tls. A tls object turns TLS on whatever the url's scheme; rediss://
// alone trusts the system's certificate authorities.
func options(cfg registry.Config) (*goredis.Options, error) {
	url := strings.TrimSpace(cfg.String("url"))
	if url == "" {
		url = os.Getenv("REDIS_URL")
	}
	if url == "" {
		url = defaultURL
	}
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("url: %w; write it like redis://127.0.0.1:6379/0", err)
	}
	if u := cfg.String("username"); u != "" {
		opts.Username = u
	}
	if p := cfg.String("password"); p != "" {
		opts.Password = p
	}
	tc, err := tlsconf.FromConfig(cfg)
	if err != nil {
		return nil, err
	}
	if tc != nil {
		if tc.ServerName == "" {
			tc.ServerName, _, _ = net.SplitHostPort(opts.Addr)
		}
		opts.TLSConfig = tc
	}
	opts.DialTimeout = 5 * time.Second
	// Commands fail fast while the server is down; the source and sink
	// retry with backoff, so a restart means waiting, not failing.
	opts.MaxRetries = 1
	return opts, nil
}

// dial connects and pings, with an error that says where it tried.
func dial(ctx context.Context, cfg registry.Config) (*goredis.Client, error) {
	opts, err := options(cfg)
	if err != nil {
		return nil, err
	}
	client := goredis.NewClient(opts)
	if err := client.Ping(ctx).Err(); err != nil {
		_ = client.Close()
		return nil, explain(opts, err)
	}
	return client, nil
}

// validateURL checks the url and the tls files when given.
func validateURL(cfg registry.Config) error {
	if _, err := options(cfg); err != nil {
		var at *registry.PathError
		if errors.As(err, &at) {
			return err
		}
		return registry.At(err, "url")
	}
	return nil
}
