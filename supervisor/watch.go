package supervisor

import (
	"context"
	"crypto/sha256"
	"fmt"
	"os"
	"time"

	"github.com/flowrun/flowrun/diag"
)

// watchState is what the watcher knows of one flow's file.
type watchState struct {
	seen    [32]byte // its content at the last look
	handled [32]byte // the content last compiled: running, or rejected
}

func hashOf(src []byte, readErr error) [32]byte {
	if readErr != nil { // a missing file is a content of its own
		return sha256.Sum256([]byte("\x00cannot read: " + readErr.Error()))
	}
	return sha256.Sum256(src)
}

// watch reads every flow file each WatchInterval (with Watch) and
// reloads every flow on each Reload signal, until ctx is done. Reading
// the content, not only the modification time, catches edits within one
// tick of a coarse file system clock; flow files are small (dsl.MaxFlowBytes).
func (s *Supervisor) watch(ctx context.Context) {
	var tick <-chan time.Time
	if s.opts.Watch {
		t := time.NewTicker(s.opts.WatchInterval)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick:
			for _, f := range s.flows {
				s.poll(f)
			}
		case <-s.opts.Reload:
			s.log.Info("reloading every flow (SIGHUP)")
			for _, f := range s.flows {
				src, err := os.ReadFile(f.file)
				f.watch.seen = hashOf(src, err)
				f.watch.handled = f.watch.seen
				s.reload(f, src, err)
			}
		}
	}
}

// poll reloads f once its file has changed and then held still for one
// interval (debounce: an editor's save, a copy in progress).
func (s *Supervisor) poll(f *Flow) {
	src, err := os.ReadFile(f.file)
	h := hashOf(src, err)
	w := &f.watch
	if h != w.seen {
		w.seen = h
		return
	}
	if h == w.handled {
		return
	}
	w.handled = h
	s.log.Info("flow file changed", "file", f.file)
	s.reload(f, src, err)
}

// reload compiles the file's new content and hands it to the flow, or
// reports why it cannot run while the running version goes on.
func (s *Supervisor) reload(f *Flow, src []byte, readErr error) {
	if cur, _ := f.Current(); cur.Source.Kind == "stdin" {
		// A new source cannot take over what the old one has read ahead.
		s.log.Error("a flow reading stdin cannot be reloaded: its input would be lost; restart it instead", "file", f.file)
		f.rejected("not reloaded: the flow reads stdin")
		return
	}
	v, ds := s.compile(f.file, src, readErr)
	if v != nil {
		if other := s.nameTaken(v.Name, f); other != "" {
			v, ds = nil, diag.List{sameName(f.file, v.Name, other)}
		}
	}
	if v == nil {
		s.opts.Report(ds)
		first := ds[0]
		first.Snippet = "" // one line for /flows; Report showed it whole
		msg := "new version rejected: " + first.String()
		if len(ds) > 1 {
			msg += fmt.Sprintf(" (and %d more problems)", len(ds)-1)
		}
		f.rejected(msg)
		s.log.Error("flow file has problems; the running version goes on", "file", f.file, "problems", len(ds))
		return
	}
	f.offer(v)
}
