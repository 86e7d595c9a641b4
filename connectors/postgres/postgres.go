// Package postgres is the `postgres` connector: a PostgreSQL table used
// as a transactional outbox / queue, in watermill-sql's layout, so that
// flowrun, watermill programs and an application's own transactions
// share it.
//
// A topic T is the table "watermill_T" (offset bigserial, uuid, payload,
// metadata JSON, transaction_id xid8) plus "watermill_offsets_T" holding
// each consumer group's acknowledged position. The sink inserts rows
// (one INSERT per Write, committed before Write returns); an application
// can insert rows in its own transaction (watermill's Publisher does),
// and flowrun sees them once that transaction commits. The source reads
// rows in commit order, never past a transaction still in progress (the
// transaction_id < pg_snapshot_xmin rule of watermill-sql), so no row is
// skipped.
//
// Message conventions:
//   - the body is the payload column, untouched (bytea by default; json
//     for tables shared with watermill's default schema);
//   - the id is the uuid column; metadata is the metadata JSON object;
//   - the key travels in metadata as `_flowrun_key`;
//   - the topic is the topic name.
//
// Delivery: many rows are in flight at once and acked in any order; the
// group's offset moves to the last row below which everything is acked
// (a watermark), so a crash redelivers only what was not acked. The
// source never holds more than the flow's in-flight limit. Nack hands the
// row out again after redelivery_delay. One process reads a group at a
// time (a session advisory lock): other replicas stand by and take over
// when it stops or dies.
package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"net/url"
	"os"
	"regexp"
	"strings"
	"time"

	"github.com/flowrun/flowrun/connectors/internal/inflight"
	"github.com/flowrun/flowrun/connectors/internal/resend"
	"github.com/flowrun/flowrun/registry"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/stdlib"
)

// defaultDSN is used when neither dsn nor $DATABASE_URL is set.
const defaultDSN = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

// keyMeta carries the message key in the metadata column.
const keyMeta = "_flowrun_key"

func init() {
	registry.RegisterConnector(&registry.ConnectorSpec{
		Name:         "postgres",
		Summary:      "PostgreSQL outbox/queue table (watermill-sql layout): rows read in commit order with per-group offsets (source), inserted (sink, dead letter)",
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
		ValidateSource: validate,
		ValidateSink:   validate,
	})
}

var commonFields = []registry.Field{
	{Name: "dsn", Type: registry.String,
		Doc: "postgres://user@host:port/db?sslmode=... or key=value form (default: $DATABASE_URL, else " + defaultDSN + ")"},
	{Name: "password", Type: registry.String, Secret: true, Doc: "password, e.g. \"${file:/run/secrets/pg-password}\" (overrides the dsn's)"},
	sslmodeField,
	tlsField,
	{Name: "topic", Type: registry.String, Target: true, Required: true,
		Doc: "the topic: table watermill_<topic> (letters, digits, _ . -)"},
	{Name: "create", Type: registry.Bool, Default: true, Doc: "create the tables when they do not exist"},
	{Name: "payload_type", Type: registry.String, Default: "bytea", Enum: []string{"bytea", "json"},
		Doc: "payload column type of a table created here: bytea holds any bytes, json only JSON (watermill's default)"},
}

var sourceFields = append(append([]registry.Field{}, commonFields...),
	registry.Field{Name: "group", Type: registry.String,
		Doc: "consumer group: its offset is kept in watermill_offsets_<topic> (default: the flow's name)"},
	registry.Field{Name: "poll_interval", Type: registry.Duration, Default: 100 * time.Millisecond, Min: registry.F(0.001),
		Doc: "how often an idle source looks for new rows"},
	registry.Field{Name: "redelivery_delay", Type: registry.Duration, Default: 100 * time.Millisecond,
		Doc: "wait before a nacked row is handed out again; doubled at each nack of the same row, up to redelivery_max_delay"},
	registry.Field{Name: "redelivery_max_delay", Type: registry.Duration, Default: inflight.DefaultRedeliveryMaxDelay,
		Doc: "longest wait before a row nacked again and again is handed out again"},
	registry.Field{Name: "max_in_flight", Type: registry.Int, Min: registry.F(1),
		Doc: "most rows handed out and unacknowledged (default: the flow's in-flight limit)"},
)

var sinkFields = append(append([]registry.Field{}, commonFields...), resend.Field)

var topicName = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

func topicOf(cfg registry.Config) (string, error) {
	t := cfg.String("topic")
	if !topicName.MatchString(t) || len(t) > 50 {
		return "", fmt.Errorf("topic %q: use up to 50 letters, digits, _ . or - (it names the table watermill_<topic>)", t)
	}
	return t, nil
}

// dsn is dsn, else $DATABASE_URL, else the local default, with
// password, sslmode and tls applied.
func dsn(cfg registry.Config) (string, error) {
	d := strings.TrimSpace(cfg.String("dsn"))
	if d == "" {
		d = os.Getenv("DATABASE_URL")
	}
	if d == "" {
		d = defaultDSN
	}
	set, err := sslSettings(cfg)
	if err != nil {
		return "", err
	}
	if pass := cfg.String("password"); pass != "" {
		if isURL(d) {
			u, err := url.Parse(d)
			if err != nil {
				return "", fmt.Errorf("dsn: %w", err)
			}
			u.User = url.UserPassword(u.User.Username(), pass)
			d = u.String()
		} else {
			set = append(set, [2]string{"password", pass})
		}
	}
	return withSettings(d, set)
}

// open connects and pings; a failure says which step failed.
func open(ctx context.Context, cfg registry.Config) (*sql.DB, error) {
	d, err := dsn(cfg)
	if err != nil {
		return nil, err
	}
	pc, err := pgx.ParseConfig(d) // its errors show the dsn with the password masked
	if err != nil {
		return nil, fmt.Errorf("dsn: %w", err)
	}
	serverName(cfg, &pc.Config)
	db := stdlib.OpenDB(*pc)
	db.SetMaxOpenConns(8)
	db.SetConnMaxIdleTime(time.Minute)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := db.PingContext(pctx); err != nil {
		_ = db.Close()
		return nil, explain(&pc.Config, err)
	}
	return db, nil
}

// validate checks the topic, which names tables, and that sslmode and
// tls agree.
func validate(cfg registry.Config) error {
	if _, err := topicOf(cfg); err != nil {
		return registry.At(err, "topic")
	}
	if cfg.String("sslmode") == "disable" && cfg.Object("tls") != nil {
		return registry.At(fmt.Errorf("sslmode is disable but tls is set; remove tls, or set sslmode to verify-full"), "sslmode")
	}
	return nil
}
