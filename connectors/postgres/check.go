package postgres

import (
	"context"
	"database/sql"
	"fmt"

	"github.com/flowrun/flowrun/registry"
)

// check is `flowrun validate --connect`: it connects, looks for the
// topic's tables and whether the user may use them (or create them),
// creating nothing.
func check(ctx context.Context, cfg registry.Config, env registry.Env) error {
	topic, err := topicOf(cfg)
	if err != nil {
		return err
	}
	db, err := open(ctx, cfg)
	if err != nil {
		return err
	}
	defer db.Close()
	t := newTables(topic, cfg.String("payload_type"))
	messages, offsets, err := t.exist(ctx, db)
	if err != nil {
		return fmt.Errorf("postgres: looking for table %s: %w", t.messages(), err)
	}
	switch {
	case messages && offsets:
		return mayUse(ctx, db, t, env.Role)
	case cfg.Bool("create"):
		if err := mayCreate(ctx, db); err != nil {
			return err
		}
		env.LoggerOrDiscard().Info("postgres tables do not exist yet; they are created on start", "table", t.messages())
		return nil
	}
	return fmt.Errorf("table %s or %s does not exist and create is off; create them (or set create: true)", t.messages(), t.offsetsTable())
}

// mayUse reports an authorization failure: the privileges the source
// (read rows, keep its group's offset) or the sink (insert rows) needs.
func mayUse(ctx context.Context, db *sql.DB, t tables, role string) error {
	need := [][2]string{{t.messages(), "INSERT"}}
	if role == "source" {
		need = [][2]string{{t.messages(), "SELECT"}, {t.offsetsTable(), "SELECT"}, {t.offsetsTable(), "INSERT"}, {t.offsetsTable(), "UPDATE"}}
	}
	for _, n := range need {
		var ok bool
		var user string
		if err := db.QueryRowContext(ctx, `SELECT has_table_privilege($1, $2), current_user`, n[0], n[1]).Scan(&ok, &user); err != nil {
			return fmt.Errorf("postgres: reading the privileges on %s: %w", n[0], err)
		}
		if !ok {
			return fmt.Errorf("authorization failure: user %q may not %s table %s; ask for GRANT %s ON %s TO %s", user, verb(n[1]), n[0], n[1], n[0], user)
		}
	}
	return nil
}

// mayCreate reports an authorization failure: tables to create in a
// schema the user may not create in.
func mayCreate(ctx context.Context, db *sql.DB) error {
	var ok bool
	var user, schema string
	err := db.QueryRowContext(ctx, `SELECT coalesce(has_schema_privilege(current_schema(), 'CREATE'), false), current_user, coalesce(current_schema(), 'none (search_path)')`).Scan(&ok, &user, &schema)
	if err != nil {
		return fmt.Errorf("postgres: reading the privileges on the schema: %w", err)
	}
	if !ok {
		return fmt.Errorf("authorization failure: the tables do not exist and user %q may not create them in schema %s; ask for GRANT CREATE ON SCHEMA %s TO %s, or create the tables and grant their use", user, schema, schema, user)
	}
	return nil
}

func verb(privilege string) string {
	switch privilege {
	case "SELECT":
		return "read (SELECT)"
	case "INSERT":
		return "insert into"
	}
	return "update"
}
