package redis

import (
	"context"
	"fmt"

	"github.com/flowrun/flowrun/registry"
)

// check is `flowrun validate --connect`: it pings the server and, for a
// source, looks at the stream and group, creating nothing.
func check(ctx context.Context, cfg registry.Config, env registry.Env) error {
	client, err := dial(ctx, cfg)
	if err != nil {
		return err
	}
	defer client.Close()
	stream := cfg.String("stream")
	kind, err := client.Type(ctx, stream).Result()
	if commandRefused(err) {
		// A user allowed only the stream commands may still work.
		env.LoggerOrDiscard().Warn("redis: the user's ACL refuses TYPE, so --connect cannot look at the stream", "stream", stream, "err", err)
		return nil
	}
	if p := noperm(client.Options(), fmt.Sprintf("use key %q", stream), err); p != nil {
		return p
	}
	if err != nil {
		return fmt.Errorf("redis: looking at key %q: %w", stream, err)
	}
	switch kind {
	case "stream":
	case "none":
		env.LoggerOrDiscard().Info("redis stream does not exist yet; it is created on first use", "stream", stream)
		return nil
	default:
		return fmt.Errorf("redis key %q holds a %s, not a stream; pick another stream name", stream, kind)
	}
	if env.Role != "source" {
		return nil
	}
	group := cfg.String("group")
	if group == "" {
		group = env.Flow
	}
	groups, err := client.XInfoGroups(ctx, stream).Result()
	if commandRefused(err) {
		env.LoggerOrDiscard().Warn("redis: the user's ACL refuses XINFO, so --connect cannot look at the group", "stream", stream, "err", err)
		return nil
	}
	if p := noperm(client.Options(), fmt.Sprintf("read the groups of stream %q (XINFO GROUPS)", stream), err); p != nil {
		return p
	}
	if err != nil {
		return fmt.Errorf("redis: groups of stream %q: %w", stream, err)
	}
	for _, g := range groups {
		if g.Name == group {
			return nil
		}
	}
	env.LoggerOrDiscard().Info("redis consumer group does not exist yet; it is created on start", "stream", stream, "group", group, "start", cfg.String("start"))
	return nil
}
