// Package lines reads and writes line-delimited messages: the common core
// of the file and stdin/stdout connectors.
//
// The reader hands out lines without copying them: it reads into large
// chunks and each message's Raw is a slice of one (capacity capped, never
// written again), so a chunk stays alive while any of its lines is in
// flight. Only a line cut by the end of a chunk is copied, into the next.
package lines

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strconv"
	"sync"
	"unsafe"

	"github.com/flowrun/flowrun/message"
)

// DefaultMaxLineBytes is the longest line a source reads by default.
const DefaultMaxLineBytes = 16 << 20

// minFree is the least free space worth a read; below it a new chunk is taken.
const minFree = 4 << 10

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("line source closed")

// Options configure a Source.
type Options struct {
	Name         string       // for errors and logs: "stdin", "file /tmp/in.txt"
	Topic        string       // every message's Topic
	MaxLineBytes int          // longer lines are skipped and logged as errors (default DefaultMaxLineBytes)
	ChunkBytes   int          // size of the read chunks (default 1 MiB)
	Logger       *slog.Logger // skipped lines (default slog.Default())
	// Closer, when set, is closed by Close to interrupt a read in
	// progress (the file the reader reads). Without it a read blocked in
	// the reader finishes on its own (at the next line or EOF).
	Closer io.Closer
}

// Source reads one message per line. Empty lines are skipped but still
// counted, so a message's ID and Offset are its line number in the input.
// A trailing "\n" or "\r\n" is not part of the message.
type Source struct {
	opt Options

	mu         sync.Mutex // one Read at a time
	chunk      []byte     // [:start) handed out, [start:end) not yet parsed, [end:) free
	start, end int
	line       int64 // lines consumed so far, empty ones included
	eof        bool
	discarding bool   // inside a line over MaxLineBytes, dropping it
	pending    bool   // the pump is reading into chunk[end:]
	spans      []span // scratch for take

	// The pump does the reads, one at a time and only when Read asks, so
	// Read can return on ctx while the reader is blocked (a pipe, a tty).
	req       chan []byte
	res       chan readResult
	done      chan struct{}
	exited    chan struct{}
	closeOnce sync.Once
}

type readResult struct {
	n   int
	err error
}

// NewSource returns a Source reading r; Close stops its reading goroutine.
func NewSource(r io.Reader, opt Options) *Source {
	if opt.MaxLineBytes <= 0 {
		opt.MaxLineBytes = DefaultMaxLineBytes
	}
	if opt.ChunkBytes <= 0 {
		opt.ChunkBytes = 1 << 20
	}
	if opt.Logger == nil {
		opt.Logger = slog.Default()
	}
	s := &Source{
		opt:    opt,
		req:    make(chan []byte, 1),
		res:    make(chan readResult, 1),
		done:   make(chan struct{}),
		exited: make(chan struct{}),
	}
	go s.pump(r)
	return s
}

func (s *Source) pump(r io.Reader) {
	defer close(s.exited)
	for {
		select {
		case <-s.done:
			return
		case b := <-s.req:
			n, err := r.Read(b)
			s.res <- readResult{n, err} // buffered: never blocks
		}
	}
}

// Read fills buf with the next lines. It blocks only until the first line
// is available: after that it returns the lines already read.
func (s *Source) Read(ctx context.Context, buf []*message.Message) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for {
		select {
		case <-s.done:
			return n, ErrClosed
		default:
		}
		n += s.take(buf[n:])
		switch {
		case n == len(buf):
			return n, nil
		case s.eof:
			return n + s.takeLast(buf[n:]), io.EOF
		case n > 0: // never wait for more once there is something to hand out
			return n, nil
		}
		if err := s.fill(ctx); err != nil {
			return n, err
		}
	}
}

// span is one line of the chunk, ready to hand out.
type span struct {
	from, to int
	line     int64
}

// take hands out the complete lines in chunk[start:end].
func (s *Source) take(buf []*message.Message) int {
	spans := s.spans[:0]
	for len(spans) < len(buf) {
		i := bytes.IndexByte(s.chunk[s.start:s.end], '\n')
		if i < 0 {
			if s.end-s.start > s.opt.MaxLineBytes+1 { // +1: room for a '\r'
				s.start, s.discarding = s.end, true
			}
			break
		}
		from, to := s.start, s.start+i
		s.start = to + 1
		s.line++
		if s.discarding {
			s.discarding = false
			s.skipTooLong()
			continue
		}
		if to > from && s.chunk[to-1] == '\r' {
			to--
		}
		switch {
		case to == from: // an empty line is skipped
		case to-from > s.opt.MaxLineBytes:
			s.skipTooLong()
		default:
			spans = append(spans, span{from, to, s.line})
		}
	}
	s.emit(buf, spans)
	s.spans = spans
	return len(spans)
}

// takeLast hands out what is left after EOF: a last line without "\n".
func (s *Source) takeLast(buf []*message.Message) int {
	from, to := s.start, s.end
	s.start = s.end
	if to == from && !s.discarding {
		return 0
	}
	s.line++
	if s.discarding || to-from > s.opt.MaxLineBytes+1 {
		s.discarding = false
		s.skipTooLong()
		return 0
	}
	if s.chunk[to-1] == '\r' {
		to--
	}
	if to == from {
		return 0
	}
	if to-from > s.opt.MaxLineBytes {
		s.skipTooLong()
		return 0
	}
	s.emit(buf, []span{{from, to, s.line}})
	return 1
}

// emit builds the messages of spans with one allocation for all of them.
func (s *Source) emit(buf []*message.Message, spans []span) {
	if len(spans) == 0 {
		return
	}
	msgs := make([]message.Message, len(spans))
	// The IDs share one byte slice too, sized so it never moves; it is
	// never written again, so the strings over it stay valid.
	digits := len(strconv.FormatInt(spans[len(spans)-1].line, 10))
	ids := make([]byte, 0, digits*len(spans))
	for i, sp := range spans {
		m := &msgs[i]
		from := len(ids)
		ids = strconv.AppendInt(ids, sp.line, 10)
		m.ID = unsafe.String(&ids[from], len(ids)-from)
		m.Topic = s.opt.Topic
		m.Offset = sp.line
		m.Raw = s.chunk[sp.from:sp.to:sp.to]
		buf[i] = m
	}
}

// skipTooLong reports the line just consumed, which is over
// MaxLineBytes. It is logged rather than returned: a Read error would
// only make the runtime retry a read that has already moved past it.
func (s *Source) skipTooLong() {
	s.opt.Logger.Error("line longer than max_line_bytes skipped; raise max_line_bytes to read it",
		"source", s.opt.Name, "line", s.line, "max_line_bytes", s.opt.MaxLineBytes)
}

// fill reads once more into the free end of the chunk, taking a new chunk
// (with the unparsed tail copied over) when too little room is left.
func (s *Source) fill(ctx context.Context) error {
	if !s.pending { // else a read abandoned on ctx is still writing into chunk[end:]
		if cap(s.chunk)-s.end < minFree {
			s.grow()
		}
		s.req <- s.chunk[s.end:cap(s.chunk)]
		s.pending = true
	}
	select {
	case r := <-s.res:
		s.pending = false
		s.end += r.n
		s.chunk = s.chunk[:s.end]
		switch {
		case errors.Is(r.err, io.EOF):
			s.eof = true
		case r.err != nil:
			return fmt.Errorf("%s: read: %w", s.opt.Name, r.err)
		}
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.done:
		return ErrClosed
	}
}

// grow starts a new chunk holding the unparsed tail, twice the tail's
// size when a long line does not fit the usual chunk.
func (s *Source) grow() {
	tail := s.chunk[s.start:s.end]
	size := max(s.opt.ChunkBytes, 2*len(tail)+minFree)
	next := make([]byte, len(tail), size)
	copy(next, tail)
	s.chunk, s.start, s.end = next, 0, len(tail)
}

// Ack does nothing: a line has nowhere to be acknowledged.
func (s *Source) Ack(*message.Message) {}

// Nack does nothing: a line cannot be read again. The runtime has logged
// the failure once (rate-limited); a second line would only repeat it.
func (s *Source) Nack(*message.Message, error) {}

// Close stops the reading goroutine and closes Options.Closer. A read
// blocked in a reader without Closer (stdin) is left to finish on its own.
func (s *Source) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.done)
		if s.opt.Closer != nil {
			err = s.opt.Closer.Close()
		}
		s.mu.Lock() // a Read in progress returns on done
		blocked := s.pending
		s.mu.Unlock()
		if s.opt.Closer != nil || !blocked {
			<-s.exited
		}
	})
	return err
}
