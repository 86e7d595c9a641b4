package postgres

import (
	"context"
	"database/sql"
	"fmt"
	"hash/fnv"

	wsql "github.com/ThreeDotsLabs/watermill-sql/v4/pkg/sql"
)

// tables are a topic's messages and offsets tables, through
// watermill-sql's PostgreSQL adapters.
type tables struct {
	topic       string
	payloadType string
	schema      wsql.DefaultPostgreSQLSchema
	offsets     wsql.DefaultPostgreSQLOffsetsAdapter
}

func newTables(topic, payloadType string) tables {
	return tables{topic: topic, payloadType: payloadType,
		schema: wsql.DefaultPostgreSQLSchema{InitializeSchemaWithoutTransaction: true}}
}

func (t tables) messages() string { return t.schema.MessagesTable(t.topic) }

func (t tables) offsetsTable() string { return t.offsets.MessagesOffsetsTable(t.topic) }

// create makes both tables unless they exist. The messages table is
// watermill's, with two differences for flowrun's messages: ids of any
// length (text, not varchar(36)) and, by default, a bytea payload.
func (t tables) create(ctx context.Context, db *sql.DB) error {
	payload := "BYTEA"
	if t.payloadType == "json" {
		payload = "JSON"
	}
	offsets, err := t.offsets.SchemaInitializingQueries(wsql.OffsetsSchemaInitializingQueriesParams{Topic: t.topic})
	if err != nil {
		return err
	}
	queries := append([]string{
		fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", wsql.DefaultSchemaInitializationLock("watermill")),
		`CREATE TABLE IF NOT EXISTS ` + t.messages() + ` (
			"offset" BIGSERIAL,
			"uuid" TEXT NOT NULL,
			"created_at" TIMESTAMP NOT NULL DEFAULT CURRENT_TIMESTAMP,
			"payload" ` + payload + ` DEFAULT NULL,
			"metadata" JSON DEFAULT NULL,
			"transaction_id" xid8 NOT NULL,
			PRIMARY KEY ("transaction_id", "offset")
		)`,
	}, offsets[0].Query)
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		return err
	}
	for _, q := range queries {
		if _, err := tx.ExecContext(ctx, q); err != nil {
			_ = tx.Rollback()
			return fmt.Errorf("creating the tables of topic %q: %w", t.topic, err)
		}
	}
	return tx.Commit()
}

// exist reports whether the messages and offsets tables exist.
func (t tables) exist(ctx context.Context, db *sql.DB) (messages, offsets bool, err error) {
	err = db.QueryRowContext(ctx, `SELECT to_regclass($1) IS NOT NULL, to_regclass($2) IS NOT NULL`,
		t.messages(), t.offsetsTable()).Scan(&messages, &offsets)
	return messages, offsets, err
}

// ensure creates the tables when allowed, or says what is missing.
func (t tables) ensure(ctx context.Context, db *sql.DB, create bool) error {
	if create {
		return t.create(ctx, db)
	}
	m, o, err := t.exist(ctx, db)
	if err != nil {
		return err
	}
	if !m || !o {
		return fmt.Errorf("table %s or %s does not exist; create them or set create: true", t.messages(), t.offsetsTable())
	}
	return nil
}

// groupLock is the advisory lock key of a consumer group on this topic.
func (t tables) groupLock(group string) int64 {
	h := fnv.New64a()
	_, _ = h.Write([]byte("flowrun:" + t.topic + ":" + group))
	return int64(h.Sum64() >> 1)
}

// selectAfter reads up to limit committed rows after (txid, offset), in
// commit order, never past a transaction still running (watermill-sql's
// rule, which keeps concurrent inserts from being skipped). Its columns
// are those watermill's UnmarshalMessage scans. The row comparison is
// watermill's (txid = $1 AND offset > $2) OR txid > $1, written so that
// PostgreSQL walks the primary key from the cursor instead of scanning
// the table on every read.
func (t tables) selectAfter() string {
	return `SELECT "offset", transaction_id, uuid, payload, metadata FROM ` + t.messages() + `
		WHERE (transaction_id, "offset") > ($1::xid8, $2::bigint)
		AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())
		ORDER BY transaction_id ASC, "offset" ASC
		LIMIT $3`
}
