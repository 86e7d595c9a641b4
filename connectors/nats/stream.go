package nats

import (
	"context"
	"errors"
	"fmt"

	"github.com/flowrun/flowrun/registry"
	"github.com/nats-io/nats.go/jetstream"
)

// ensureStream returns the stream named in cfg, creating it (file
// storage, capturing subject) when it is missing and create is on.
func ensureStream(ctx context.Context, js jetstream.JetStream, cfg registry.Config, subject string) (jetstream.Stream, error) {
	name := cfg.String("stream")
	st, err := js.Stream(ctx, name)
	if err == nil {
		return st, nil
	}
	if !errors.Is(err, jetstream.ErrStreamNotFound) {
		return nil, fmt.Errorf("stream %q: %w", name, jsHint(err))
	}
	if !cfg.Bool("create") {
		return nil, fmt.Errorf("stream %q does not exist; create it (nats stream add %s) or set create: true", name, name)
	}
	if subject == "" {
		return nil, fmt.Errorf("stream %q does not exist and no subject is set to create it with; set subject", name)
	}
	st, err = js.CreateStream(ctx, jetstream.StreamConfig{
		Name: name, Subjects: []string{subject}, Storage: jetstream.FileStorage,
	})
	if errors.Is(err, jetstream.ErrStreamNameAlreadyInUse) {
		// Another replica created it at the same moment.
		st, err = js.Stream(ctx, name)
	}
	if err != nil {
		return nil, fmt.Errorf("creating stream %q for subject %q: %w", name, subject, jsHint(err))
	}
	return st, nil
}

// jsHint adds what to do to errors that mean JetStream is off.
func jsHint(err error) error {
	if errors.Is(err, jetstream.ErrJetStreamNotEnabled) || errors.Is(err, jetstream.ErrJetStreamNotEnabledForAccount) {
		return fmt.Errorf("%w; start nats-server with -js", err)
	}
	return err
}
