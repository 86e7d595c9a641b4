// Package file is the `file` connector.
//
// As a source it reads {path} line by line: one message per line, with
// Topic = the path and ID = Offset = the line number (counting from 1).
// The "\n" ending a line is not part of a message, nor the "\r" of
// "\r\n" unless the codec is bytes (byte-exact); empty lines are
// messages, except with the json codec, which skips blank lines (their
// numbers are not reused; they are counted and logged). A last line
// without "\n" is still read, and the source ends with io.EOF at the end
// of the file. A line is never decoded here: the flow's codec does that.
//
// A file cannot take a message back: Ack does nothing and Nack (a failed
// message without a dead letter) logs a warning with the line number so
// it can be found and replayed by hand.
//
// As a sink it appends one line per message to {path} (created 0644 when
// missing): the message's encoded body, or with envelope: true one JSON
// object {"id","key","topic","meta","payload"}. Each write call is one
// write to the file, so a batch lands together.
package file

import (
	"context"
	"fmt"
	"os"

	"github.com/flowrun/flowrun/connectors/file/lines"
	"github.com/flowrun/flowrun/registry"
)

// chunkBytes is the read size: large, so a big file costs few reads.
const chunkBytes = 1 << 20

func init() {
	registry.RegisterConnector(&registry.ConnectorSpec{
		Name:    "file",
		Summary: "a local file: one message per line (source, ends at end of file), or one line appended per message (sink)",
		SourceFields: []registry.Field{
			{Name: "path", Type: registry.String, Target: true, Required: true,
				Doc: "the file to read; relative paths start from the working directory"},
			{Name: "max_line_bytes", Type: registry.Size, Default: lines.DefaultMaxLineBytes, Min: registry.F(1),
				Doc: "longest line read; a longer one fails like any message (dead letter, or counted as lost) with its first max_line_bytes bytes and the reason (messages over the flow's max_message_bytes fail the same way)"},
		},
		SinkFields: []registry.Field{
			{Name: "path", Type: registry.String, Target: true, Required: true,
				Doc: "the file to append to, created (mode 0644) when missing; its directory must exist"},
			{Name: "envelope", Type: registry.Bool, Default: false,
				Doc: `write each message as one JSON object {"id","key","topic","meta","payload"} instead of its payload alone`},
		},
		Source: func(_ context.Context, cfg registry.Config, env registry.Env) (registry.Source, error) {
			return NewSource(cfg.String("path"), cfg.Int("max_line_bytes"), env)
		},
		Sink: func(_ context.Context, cfg registry.Config, _ registry.Env) (registry.Sink, error) {
			return NewSink(cfg.String("path"), cfg.Bool("envelope"))
		},
	})
}

// NewSource opens path for reading line by line.
func NewSource(path string, maxLineBytes int, env registry.Env) (*lines.Source, error) {
	if path == "" {
		return nil, fmt.Errorf("file source: path is empty; set path to the file to read")
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("file source: cannot open %q: %w; check the path (relative paths start from the working directory)", path, err)
	}
	if info, err := f.Stat(); err != nil || info.IsDir() {
		_ = f.Close()
		if err == nil {
			return nil, fmt.Errorf("file source: %q is a directory; set path to a file", path)
		}
		return nil, fmt.Errorf("file source: %q: %w", path, err)
	}
	return lines.NewSource(f, lines.FromEnv(lines.Options{
		Name: "file " + path, Topic: path, MaxLineBytes: maxLineBytes,
		ChunkBytes: chunkBytes, Closer: f,
	}, env)), nil
}

// NewSink opens path for appending.
func NewSink(path string, envelope bool) (*lines.Sink, error) {
	if path == "" {
		return nil, fmt.Errorf("file sink: path is empty; set path to the file to append to")
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("file sink: cannot open %q for appending: %w; check that its directory exists and is writable", path, err)
	}
	return lines.NewSink("file "+path, f, f, envelope), nil
}
