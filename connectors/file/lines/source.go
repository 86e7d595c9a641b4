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
	"github.com/prometheus/client_golang/prometheus"
)

// DefaultMaxLineBytes is the longest line a source reads by default.
const DefaultMaxLineBytes = 16 << 20

// minFree is the least free space worth a read; below it a new chunk is taken.
const minFree = 4 << 10

// ErrClosed is returned by Read after Close.
var ErrClosed = errors.New("line source closed")

// Options configure a Source.
type Options struct {
	Name         string             // for errors and logs: "stdin", "file /tmp/in.txt"
	Topic        string             // every message's Topic
	MaxLineBytes int                // a longer line is handed out failed, cut to this (default DefaultMaxLineBytes)
	Codec        message.Codec      // bytes keeps a line's "\r"; json skips blank lines
	BlankLines   prometheus.Counter // counts the blank lines json skips (optional)
	ChunkBytes   int                // size of the read chunks (default 1 MiB)
	Logger       *slog.Logger       // the count of skipped blank lines (default slog.Default())
	// Closer, when set, is closed by Close to interrupt a read in
	// progress (the file the reader reads). Without it a read blocked in
	// the reader finishes on its own (at the next line or EOF).
	Closer io.Closer
}

// Source reads one message per line; a message's ID and Offset are its
// line number in the input. The "\n" ending a line is not part of the
// message, nor a "\r" before it unless the codec is bytes (byte-exact).
// Empty lines are messages too, except with the json codec, which skips
// blank lines (counted in Options.BlankLines and logged at the end).
// A line over MaxLineBytes is handed out cut to MaxLineBytes with
// Message.Err saying so: the runtime fails it like any other failure.
type Source struct {
	opt Options

	mu         sync.Mutex // one Read at a time
	chunk      []byte     // [:start) handed out, [start:end) not yet parsed, [end:) free
	start, end int
	line       int64 // lines consumed so far, empty ones included
	eof        bool
	cut        *longLine // inside a line over MaxLineBytes: its head, its size so far
	blank      int64     // blank lines skipped (json)
	pending    bool      // the pump is reading into chunk[end:]
	spans      []span    // scratch for take

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
			n += s.takeLast(buf[n:])
			s.reportBlank()
			return n, io.EOF
		case n > 0: // never wait for more once there is something to hand out
			return n, nil
		}
		if err := s.fill(ctx); err != nil {
			return n, err
		}
	}
}

// span is one line of the chunk, ready to hand out; long is set for a
// line over MaxLineBytes.
type span struct {
	from, to int
	line     int64
	long     *longLine
}

// longLine is a line over MaxLineBytes: its first MaxLineBytes bytes and
// its full length. It is handed out failed (Message.Err), so the runtime
// dead-letters or nacks it and counts it like any failure.
type longLine struct {
	head   []byte
	size   int
	lastCR bool // the last byte counted in size is a '\r'
}

// add counts b, read of the long line, and hands out the line when it
// ended; a "\r" ending it is not counted, as for any line, unless bytes.
func (l *longLine) add(b []byte, ended bool, codec message.Codec) {
	l.size += len(b)
	if len(b) > 0 {
		l.lastCR = b[len(b)-1] == '\r'
	}
	if ended && l.lastCR && codec != message.Bytes {
		l.size--
	}
}

// take hands out the complete lines in chunk[start:end].
func (s *Source) take(buf []*message.Message) int {
	spans := s.spans[:0]
	for len(spans) < len(buf) {
		i := bytes.IndexByte(s.chunk[s.start:s.end], '\n')
		if i < 0 {
			switch {
			case s.cut != nil: // still inside a long line: drop what came
				s.cut.add(s.chunk[s.start:s.end], false, s.opt.Codec)
				s.start = s.end
			case s.end-s.start > s.opt.MaxLineBytes+1: // +1: room for a '\r'
				s.cut = &longLine{head: bytes.Clone(s.chunk[s.start : s.start+s.opt.MaxLineBytes])}
				s.cut.add(s.chunk[s.start:s.end], false, s.opt.Codec)
				s.start = s.end
			}
			break
		}
		from, to := s.start, s.start+i
		s.start = to + 1
		s.line++
		if s.cut != nil {
			s.cut.add(s.chunk[from:to], true, s.opt.Codec)
			spans = append(spans, span{line: s.line, long: s.cut})
			s.cut = nil
			continue
		}
		if sp, ok := s.span(from, to); ok {
			spans = append(spans, sp)
		}
	}
	s.emit(buf, spans)
	s.spans = spans
	return len(spans)
}

// span makes the span of the line chunk[from:to] (without its "\n"); ok
// is false for a blank line the codec skips.
func (s *Source) span(from, to int) (span, bool) {
	if s.opt.Codec != message.Bytes && to > from && s.chunk[to-1] == '\r' {
		to--
	}
	switch {
	case to == from && s.opt.Codec == message.JSON:
		s.blank++
		if s.opt.BlankLines != nil {
			s.opt.BlankLines.Inc()
		}
		return span{}, false
	case to-from > s.opt.MaxLineBytes:
		return span{line: s.line, long: &longLine{head: s.chunk[from : from+s.opt.MaxLineBytes : from+s.opt.MaxLineBytes], size: to - from}}, true
	}
	return span{from: from, to: to, line: s.line}, true
}

// takeLast hands out what is left after EOF: a last line without "\n".
func (s *Source) takeLast(buf []*message.Message) int {
	from, to := s.start, s.end
	s.start = s.end
	if s.cut != nil {
		s.line++
		s.cut.add(s.chunk[from:to], true, s.opt.Codec)
		s.emit(buf, []span{{line: s.line, long: s.cut}})
		s.cut = nil
		return 1
	}
	if to == from {
		return 0
	}
	s.line++
	sp, ok := s.span(from, to)
	if !ok {
		return 0
	}
	s.emit(buf, []span{sp})
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
		if sp.long != nil {
			m.Raw = sp.long.head
			m.Err = fmt.Errorf("%s: line %d is %d bytes, over max_line_bytes (%d): only its first %d bytes are kept; raise max_line_bytes to read it whole",
				s.opt.Name, sp.line, sp.long.size, s.opt.MaxLineBytes, s.opt.MaxLineBytes)
		}
		buf[i] = m
	}
}

// reportBlank logs, once, how many blank lines the json codec skipped.
func (s *Source) reportBlank() {
	if s.blank > 0 {
		s.opt.Logger.Info("skipped blank lines: the json codec reads each non-blank line as one document",
			"source", s.opt.Name, "blank_lines", s.blank)
		s.blank = 0
	}
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
