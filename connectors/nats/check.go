package nats

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/flowrun/flowrun/registry"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// check is `flowrun validate --connect`: it reaches the server and looks
// for the stream (and, for a sink, a stream capturing the subject),
// creating nothing.
func check(ctx context.Context, cfg registry.Config, env registry.Env) error {
	logger := env.LoggerOrDiscard()
	refused := make(chan error, 1)
	nc, err := connect(ctx, cfg, env, logger, func(err error) {
		if errors.Is(err, nats.ErrPermissionViolation) {
			select {
			case refused <- err:
			default:
			}
		}
	})
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ask := func(call func(context.Context) error) error { return permitted(ctx, cfg, refused, call) }
	if err := ask(func(ctx context.Context) error { _, err := js.AccountInfo(ctx); return err }); err != nil {
		return fmt.Errorf("NATS at %s: %w", shown(cfg), jsHint(err))
	}
	name, subject := cfg.String("stream"), cfg.String("subject")
	if env.Role == "source" && name == "" {
		return fmt.Errorf("stream: no stream to read; set stream")
	}
	if name != "" {
		var st jetstream.Stream
		err := ask(func(ctx context.Context) (err error) { st, err = js.Stream(ctx, name); return err })
		switch {
		case errors.Is(err, jetstream.ErrStreamNotFound) && cfg.Bool("create") && subject != "":
			logger.Info("nats stream does not exist yet; it will be created", "stream", name, "subject", subject)
			return nil
		case errors.Is(err, jetstream.ErrStreamNotFound):
			return fmt.Errorf("stream %q does not exist on %s; create it or set create: true (with a subject)", name, shown(cfg))
		case err != nil:
			return fmt.Errorf("stream %q: %w", name, err)
		}
		if env.Role == "source" || subject == "" {
			return nil
		}
		if !slices.ContainsFunc(st.CachedInfo().Config.Subjects, func(s string) bool { return subjectMatches(s, subject) }) {
			return fmt.Errorf("stream %q does not capture subject %q (its subjects: %v); published messages would be lost",
				name, subject, st.CachedInfo().Config.Subjects)
		}
		return nil
	}
	if err := ask(func(ctx context.Context) error { _, err := js.StreamNameBySubject(ctx, subject); return err }); err != nil {
		if errors.Is(err, jetstream.ErrStreamNotFound) {
			return fmt.Errorf("no stream on %s captures subject %q; create one, or set stream (with create: true)", shown(cfg), subject)
		}
		return fmt.Errorf("subject %q: %w", subject, err)
	}
	return nil
}

// subjectMatches reports whether the stream subject pattern (with * and
// > wildcards) covers the literal subject.
func subjectMatches(pattern, subject string) bool {
	p, s := splitTokens(pattern), splitTokens(subject)
	for i, tok := range p {
		if tok == ">" {
			return len(s) > i
		}
		if i >= len(s) || (tok != "*" && tok != s[i]) {
			return false
		}
	}
	return len(p) == len(s)
}

func splitTokens(subject string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(subject); i++ {
		if i == len(subject) || subject[i] == '.' {
			out = append(out, subject[start:i])
			start = i + 1
		}
	}
	return out
}

// permitted runs one JetStream API call. A server that refuses the
// user the API's subject answers with an asynchronous error, not a
// reply: that error ends the call as an authorization failure instead
// of a timeout.
func permitted(ctx context.Context, cfg registry.Config, refused <-chan error, call func(context.Context) error) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- call(ctx) }()
	select {
	case err := <-done:
		return err
	case err := <-refused:
		cancel()
		<-done
		who := "this connection"
		if u := cfg.String("user"); u != "" {
			who = fmt.Sprintf("user %q", u)
		}
		return fmt.Errorf("authorization failure: %s may not use JetStream's API (%w); the server's permissions for it must allow publish on $JS.API.> and subscribe on _INBOX.>", who, err)
	}
}
