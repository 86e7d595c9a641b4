package runtime

import (
	"fmt"
	"reflect"
)

// failKey groups failure log lines for rate limiting: what happened,
// where, and the kind of error (the type of its innermost cause, so the
// number of keys stays bounded whatever the messages hold).
func failKey(what, stage string, err error) string {
	return what + "\x00" + stage + "\x00" + errorKind(err)
}

func errorKind(err error) string {
	for err != nil {
		var next error
		switch e := err.(type) {
		case interface{ Unwrap() error }:
			next = e.Unwrap()
		case interface{ Unwrap() []error }:
			if errs := e.Unwrap(); len(errs) > 0 {
				next = errs[0]
			}
		}
		if next == nil {
			return reflect.TypeOf(err).String()
		}
		err = next
	}
	return ""
}

// encodeError says which stage made a payload the sink cannot encode:
// the sink is where it fails, the stage is where to fix it.
func encodeError(stage, sink string, err error) error {
	if stage == "" {
		return fmt.Errorf("%s cannot encode the payload: %w", sink, err)
	}
	return fmt.Errorf("%s cannot encode the payload made by stage %q: %w", sink, stage, err)
}

// lastStage names the per-message stage that made the payloads the
// processors send on ("" when there is none).
func (p *Pipeline) lastStage() string {
	if n := len(p.flow.Steps); n > 0 {
		return p.flow.Steps[n-1].Name
	}
	return ""
}
