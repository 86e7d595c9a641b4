//go:build integration

package postgres

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/conformance"
)

// The example flow, run as a user would: events the application commits
// to the outbox reach the webhook in commit order, the group's offset
// moves past them, and a restart sends none of them again.
func TestExampleFlow(t *testing.T) {
	var mu sync.Mutex
	var got []string
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("Authorization") != "Bearer tok" {
			http.Error(w, "no token", http.StatusUnauthorized)
			return
		}
		mu.Lock()
		got = append(got, string(body))
		mu.Unlock()
	}))
	defer hook.Close()
	for _, topic := range []string{"outbox", "outbox_dead"} {
		t.Cleanup(func() { dropTables(t, topic) })
	}
	dropTables(t, "outbox")
	dropTables(t, "outbox_dead")
	flow := conformance.StartFlow(t, "../../examples/flows/postgres-outbox.yaml", "WEBHOOK_URL="+hook.URL+"/events", "WEBHOOK_TOKEN=tok")
	db := testDB(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for { // the flow creates the tables as it starts
		if m, o, err := newTables("outbox", "bytea").exist(ctx, db); err == nil && m && o {
			break
		}
		flow.Running()
		time.Sleep(100 * time.Millisecond)
	}
	tx, err := db.BeginTx(ctx, nil) // the application's own transaction
	if err != nil {
		t.Fatal(err)
	}
	for i, ev := range []string{`{"type":"invoice.paid","id":1}`, `{"type":"invoice.sent","id":1}`, `{"type":"invoice.paid","id":2}`} {
		if _, err := tx.Exec(`INSERT INTO watermill_outbox (uuid, payload, metadata, transaction_id) VALUES ($1, $2, '{}', pg_current_xact_id())`,
			"e"+string(rune('1'+i)), []byte(ev)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	want := []string{`{"type":"invoice.paid","id":1}`, `{"type":"invoice.sent","id":1}`, `{"type":"invoice.paid","id":2}`}
	received := func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
	for len(received()) < len(want) {
		flow.Running()
		time.Sleep(50 * time.Millisecond)
	}
	flow.Stop()
	if r := received(); strings.Join(r, " ") != strings.Join(want, " ") {
		t.Fatalf("webhook got %q, want %q (commit order)", r, want)
	}
	var acked, last int64
	if err := db.QueryRowContext(ctx, `SELECT offset_acked FROM watermill_offsets_outbox WHERE consumer_group = 'webhook-relay'`).Scan(&acked); err != nil {
		t.Fatal(err)
	}
	if err := db.QueryRowContext(ctx, `SELECT max("offset") FROM watermill_outbox`).Scan(&last); err != nil || acked != last {
		t.Fatalf("group offset %d, want the last row's %d (%v)", acked, last, err)
	}
	// Restarted, the flow finds nothing new: the offset was stored.
	again := conformance.StartFlow(t, "../../examples/flows/postgres-outbox.yaml", "WEBHOOK_URL="+hook.URL+"/events", "WEBHOOK_TOKEN=tok")
	time.Sleep(time.Second)
	again.Stop()
	if r := received(); len(r) != len(want) {
		t.Fatalf("after a restart the webhook got %d events, want still %d", len(r), len(want))
	}
}
