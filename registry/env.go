package registry

import (
	"errors"
	"log/slog"
)

// ErrSourceClosed is what a broker Source's Read returns once Close was
// called.
var ErrSourceClosed = errors.New("source closed")

// LoggerOrDiscard returns e.Logger, or a logger that discards everything
// when the Env has none (a connector built directly, as in tests).
func (e Env) LoggerOrDiscard() *slog.Logger {
	if e.Logger != nil {
		return e.Logger
	}
	return slog.New(slog.DiscardHandler)
}
