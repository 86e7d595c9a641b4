package postgres

import (
	"context"
	"fmt"

	"github.com/flowrun/flowrun/registry"
)

// check is `flowrun validate --connect`: it connects and looks for the
// topic's tables, creating nothing.
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
		return nil
	case cfg.Bool("create"):
		env.LoggerOrDiscard().Info("postgres tables do not exist yet; they are created on start", "table", t.messages())
		return nil
	}
	return fmt.Errorf("table %s or %s does not exist and create is off; create them (or set create: true)", t.messages(), t.offsetsTable())
}
