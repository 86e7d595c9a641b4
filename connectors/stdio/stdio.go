// Package stdio is the `stdin` source and the `stdout` sink.
//
// stdin gives one message per line, with Topic "stdin" and ID = Offset =
// the line number (counting from 1); lines are read as by the file
// source (codec bytes keeps the "\r" of "\r\n"; json skips blank
// lines), and the source ends with
// io.EOF when stdin does. Lines are never decoded here: the flow's codec
// does that. Standard input cannot take a message back: Ack does nothing
// and Nack logs a warning with the line number.
//
// Read returns when the flow stops even while stdin is silent. Close
// cannot interrupt a read already waiting on stdin (no portable way to),
// so the goroutine doing it ends at the next line or at end of input.
//
// stdout writes one line per message: its encoded body, or with
// envelope: true one JSON object {"id","key","topic","meta","payload"}.
// Each write call is one write to stdout, so a batch costs one system call.
package stdio

import (
	"context"
	"io"
	"os"

	"github.com/flowrun/flowrun/connectors/file/lines"
	"github.com/flowrun/flowrun/registry"
)

// The streams the registered connectors use; tests replace them.
var (
	stdin  io.Reader = os.Stdin
	stdout io.Writer = os.Stdout
)

// chunkBytes is the read size: a pipe rarely holds more than 64 KiB.
const chunkBytes = 64 << 10

func init() {
	registry.RegisterConnector(&registry.ConnectorSpec{
		Name:    "stdin",
		Summary: "standard input: one message per line; the flow ends at end of input",
		SourceFields: []registry.Field{
			{Name: "max_line_bytes", Type: registry.Size, Default: lines.DefaultMaxLineBytes, Min: registry.F(1),
				Doc: "longest line read; a longer one fails like any message (dead letter, or counted as lost) with its first max_line_bytes bytes and the reason (messages over the flow's max_message_bytes fail the same way)"},
		},
		Source: func(_ context.Context, cfg registry.Config, env registry.Env) (registry.Source, error) {
			return NewSource(stdin, cfg, env), nil
		},
	})
	registry.RegisterConnector(&registry.ConnectorSpec{
		Name:    "stdout",
		Summary: "standard output: one line per message",
		SinkFields: []registry.Field{
			{Name: "envelope", Type: registry.Bool, Default: false,
				Doc: `write each message as one JSON object {"id","key","topic","meta","payload"} instead of its payload alone`},
		},
		Sink: func(_ context.Context, cfg registry.Config, _ registry.Env) (registry.Sink, error) {
			return NewSink(stdout, cfg), nil
		},
	})
}

// NewSource is the stdin source over r, configured by the stdin fields.
// It does not close r.
func NewSource(r io.Reader, cfg registry.Config, env registry.Env) *lines.Source {
	return lines.NewSource(r, lines.FromEnv(lines.Options{
		Name: "stdin", Topic: "stdin", MaxLineBytes: cfg.Int("max_line_bytes"),
		ChunkBytes: chunkBytes,
	}, env))
}

// NewSink is the stdout sink over w, configured by the stdout fields.
// It does not close w.
func NewSink(w io.Writer, cfg registry.Config) *lines.Sink {
	return lines.NewSink("stdout", w, nil, cfg.Bool("envelope"))
}
