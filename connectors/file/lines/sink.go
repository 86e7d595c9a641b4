package lines

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/flowrun/flowrun/connectors/internal/resend"
	"github.com/flowrun/flowrun/message"
)

// Sink writes one line per message: its Body, or with Envelope one JSON
// object {"id","key","topic","meta","payload"}. Each Write builds all its
// lines first and hands them to the writer in one call, so a batch costs
// one system call and a failed encoding writes nothing.
type Sink struct {
	name     string
	w        io.Writer
	closer   io.Closer
	envelope bool

	mu     sync.Mutex // writes from several goroutines must not interleave
	buf    []byte     // reused between writes
	closed bool
}

// NewSink returns a Sink writing to w; Close closes closer when not nil.
// name is for errors ("stdout", "file /tmp/out.jsonl").
func NewSink(name string, w io.Writer, closer io.Closer, envelope bool) *Sink {
	return &Sink{name: name, w: w, closer: closer, envelope: envelope}
}

// Write writes one line per message and returns once the writer took
// them. A message that does not encode, and the lines a short write (a
// full disk) left unwritten, are named in a registry.WriteError, so a
// retry writes only those again, never a line already written.
func (s *Sink) Write(ctx context.Context, msgs []*message.Message) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return fmt.Errorf("%s: write after close", s.name)
	}
	buf := s.buf[:0]
	errs := make([]error, len(msgs))
	ends := make([]int, len(msgs)) // where each message's line ends in buf
	for i, m := range msgs {
		start := len(buf)
		if s.envelope {
			var err error
			if buf, err = message.AppendEnvelope(buf, m); err != nil {
				errs[i] = resend.Permanent(fmt.Errorf("message %q: %w", m.ID, err))
				buf = buf[:start]
				continue
			}
		} else {
			buf = append(buf, m.Body...)
		}
		buf = append(buf, '\n')
		ends[i] = len(buf)
	}
	if cap(buf) <= 4<<20 { // keep the buffer unless one odd batch made it huge
		s.buf = buf
	}
	if n, err := s.w.Write(buf); err != nil {
		for i := range msgs {
			if errs[i] == nil && ends[i] > n {
				errs[i] = fmt.Errorf("write: %w", err)
			}
		}
	}
	return resend.Policy{What: s.name}.Result(errs)
}

// Close closes the underlying writer when the sink owns it. Nothing is
// buffered between writes, so there is nothing left to flush.
func (s *Sink) Close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	s.closed = true
	if s.closer == nil {
		return nil
	}
	if err := s.closer.Close(); err != nil {
		return fmt.Errorf("%s: close: %w", s.name, err)
	}
	return nil
}
