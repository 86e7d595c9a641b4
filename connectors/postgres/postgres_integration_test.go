//go:build integration

package postgres

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/conformance"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"github.com/google/uuid"
)

func harness() conformance.Harness {
	return conformance.Harness{
		Connector: "postgres",
		Features: conformance.Features{
			Key: true, Meta: true, ID: true, Order: true, Redelivery: true, Persistent: true, Binary: true,
			DemandSlack: 0, // the source counts what it handed out
		},
		Topic: func(t *testing.T) (map[string]any, map[string]any) {
			topic := "conf_" + strings.ReplaceAll(uuid.NewString()[:13], "-", "")
			t.Cleanup(func() { dropTables(t, topic) })
			src := map[string]any{"topic": topic, "group": "g", "poll_interval": 20 * time.Millisecond,
				"redelivery_delay": 50 * time.Millisecond}
			return src, map[string]any{"topic": topic}
		},
		// A text column cannot hold a NUL byte: the id is refused.
		Refuse: func(_ *testing.T, _, snk map[string]any) (map[string]any, func(*message.Message)) {
			return snk, func(m *message.Message) { m.ID += "\x00" }
		},
	}
}

func TestConformance(t *testing.T) { conformance.Run(t, harness()) }

// The connector inside real flowrun processes: SIGKILL, SIGTERM, dead
// letter, and PostgreSQL restarting mid-stream.
func TestGraphConformance(t *testing.T) {
	conformance.RunGraph(t, harness(), conformance.PostgresService())
}

func testDB(t *testing.T) *sql.DB {
	db, err := sql.Open("pgx", defaultDSN)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func dropTables(t *testing.T, topic string) {
	tb := newTables(topic, "bytea")
	if _, err := testDB(t).Exec(`DROP TABLE IF EXISTS ` + tb.messages() + `, ` + tb.offsetsTable()); err != nil {
		t.Errorf("cleanup: %v", err)
	}
}

func openSource(t *testing.T, raw map[string]any, maxInFlight int) registry.Source {
	spec, _ := registry.LookupConnector("postgres")
	s, err := spec.Source(context.Background(), conformance.Config(t, spec.SourceFields, raw), conformance.Env(t, "source", maxInFlight))
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// Rows an application inserts in its own transaction are read once it
// commits, and a transaction still open does not make later rows skip it.
func TestOutboxRowsFromOpenTransactionsAreNotSkipped(t *testing.T) {
	h := harness()
	src, snk := h.Topic(t)
	spec, _ := registry.LookupConnector("postgres")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sk, err := spec.Sink(ctx, conformance.Config(t, spec.SinkFields, snk), conformance.Env(t, "sink", 0))
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Close()
	db := testDB(t)
	tb := newTables(src["topic"].(string), "bytea")
	app, err := db.BeginTx(ctx, nil) // the application's transaction, left open
	if err != nil {
		t.Fatal(err)
	}
	if _, err := app.Exec(`INSERT INTO ` + tb.messages() + ` (uuid, payload, metadata, transaction_id) VALUES ('from-app', 'outbox', '{}', pg_current_xact_id())`); err != nil {
		t.Fatal(err)
	}
	if err := sk.Write(ctx, []*message.Message{{ID: "later", Body: []byte("later")}}); err != nil {
		t.Fatal(err)
	}
	so := openSource(t, src, 10)
	defer so.Close()
	buf := make([]*message.Message, 4)
	short, stop := context.WithTimeout(ctx, 500*time.Millisecond)
	n, _ := so.Read(short, buf)
	stop()
	if n != 0 {
		t.Fatalf("read %q while an older transaction was open; it would have been skipped", buf[0].ID)
	}
	if err := app.Commit(); err != nil {
		t.Fatal(err)
	}
	var got []string
	for len(got) < 2 {
		n, err := so.Read(ctx, buf)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range buf[:n] {
			got = append(got, m.ID)
			so.Ack(m)
		}
	}
	if got[0] != "from-app" || got[1] != "later" {
		t.Fatalf("read %v, want [from-app later] (commit order)", got)
	}
}

// One process reads a group at a time; a second one stands by and takes
// over from the committed offset when the first closes.
func TestSecondReplicaStandsByThenTakesOver(t *testing.T) {
	h := harness()
	src, snk := h.Topic(t)
	spec, _ := registry.LookupConnector("postgres")
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	sk, err := spec.Sink(ctx, conformance.Config(t, spec.SinkFields, snk), conformance.Env(t, "sink", 0))
	if err != nil {
		t.Fatal(err)
	}
	defer sk.Close()
	if err := sk.Write(ctx, []*message.Message{{ID: "a", Body: []byte("a")}, {ID: "b", Body: []byte("b")}}); err != nil {
		t.Fatal(err)
	}
	first, second := openSource(t, src, 10), openSource(t, src, 10)
	defer second.Close()
	buf := make([]*message.Message, 1)
	if n, err := first.Read(ctx, buf); n != 1 || err != nil || buf[0].ID != "a" {
		t.Fatalf("first replica read (%d, %v), want a", n, err)
	}
	first.Ack(buf[0])
	short, stop := context.WithTimeout(ctx, 300*time.Millisecond)
	n, _ := second.Read(short, buf)
	stop()
	if n != 0 {
		t.Fatalf("second replica read %q while the first holds the group", buf[0].ID)
	}
	first.Close()
	if n, err := second.Read(ctx, buf); n != 1 || err != nil || buf[0].ID != "b" {
		t.Fatalf("second replica after the first closed read (%d, %v), want b", n, err)
	}
}

func TestCheck(t *testing.T) {
	spec, _ := registry.LookupConnector("postgres")
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, tc := range []struct {
		raw  map[string]any
		want string
	}{
		{map[string]any{"topic": "t", "dsn": "postgres://postgres@127.0.0.1:1/test?sslmode=disable"}, "cannot reach PostgreSQL at 127.0.0.1:1: "},
		{map[string]any{"topic": `bad"name`}, `topic "bad\"name": use up to 50 letters`},
		{map[string]any{"topic": "missing_" + strings.ReplaceAll(uuid.NewString()[:8], "-", ""), "create": false}, "does not exist and create is off"},
		{map[string]any{"topic": "missing_" + strings.ReplaceAll(uuid.NewString()[:8], "-", "")}, ""},
	} {
		err := spec.Check(ctx, conformance.Config(t, spec.SourceFields, tc.raw), conformance.Env(t, "source", 0))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("Check(%v) = %v, want nil", tc.raw, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("Check(%v) = %v, want an error containing %q", tc.raw, err, tc.want)
		}
	}
}
