package amqp

import (
	"context"
	"fmt"

	"github.com/flowrun/flowrun/registry"
)

// check is `flowrun validate --connect`: it connects and looks for the
// queue (and exchange) passively, creating nothing.
func check(ctx context.Context, cfg registry.Config, env registry.Env) error {
	u, err := serverURL(cfg)
	if err != nil {
		return err
	}
	conn, err := dial(cfg, env)
	if err != nil {
		return err
	}
	defer conn.Close()
	if ex := cfg.String("exchange"); ex != "" {
		ch, err := conn.Channel()
		if err != nil {
			return fmt.Errorf("amqp: opening a channel: %w", err)
		}
		// Passive declares close the channel when the answer is no.
		if err := ch.ExchangeDeclarePassive(ex, "topic", true, false, false, false, nil); err != nil {
			if r := refused(fmt.Sprintf("exchange %q", ex), u, err); r != nil {
				return r
			}
			return fmt.Errorf("exchange %q: %w; declare it first", ex, err)
		}
		_ = ch.Close()
	}
	queue := cfg.String("queue")
	if queue == "" {
		return nil
	}
	ch, err := conn.Channel()
	if err != nil {
		return fmt.Errorf("amqp: opening a channel: %w", err)
	}
	defer ch.Close()
	if _, err := ch.QueueDeclarePassive(queue, true, false, false, false, nil); err != nil {
		if r := refused(fmt.Sprintf("queue %q", queue), u, err); r != nil {
			return r
		}
		if cfg.Bool("declare") {
			env.LoggerOrDiscard().Info("amqp queue does not exist yet; it is declared on start", "queue", queue)
			return nil
		}
		return fmt.Errorf("queue %q does not exist and declare is off: %w", queue, err)
	}
	return ctx.Err()
}
