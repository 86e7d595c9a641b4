package postgres

import "sync"

// position is a row's place in commit order.
type position struct {
	txid   uint64
	offset int64
}

// entry is a row handed out and not yet past the watermark.
type entry struct {
	pos   position
	acked bool
}

// ref is a message's Ref: its entry in the window of one generation
// (a generation ends when the group lock is lost; its acks are void).
type ref struct {
	e   *entry
	gen int
}

// window tracks rows in read order so the group's offset moves only to
// the last row below which every row is acknowledged.
type window struct {
	mu        sync.Mutex
	gen       int
	entries   []*entry // read order; acked ones at the front are popped
	mark      position // everything up to here is acked
	committed position
}

// reset starts a new generation at the committed position.
func (w *window) reset(committed position) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.gen++
	w.entries, w.mark, w.committed = nil, committed, committed
}

// add records a row handed out; it returns its ref.
func (w *window) add(pos position) *ref {
	w.mu.Lock()
	defer w.mu.Unlock()
	e := &entry{pos: pos}
	w.entries = append(w.entries, e)
	return &ref{e: e, gen: w.gen}
}

// ack marks r acknowledged; true when the watermark moved.
func (w *window) ack(r *ref) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	if r.gen != w.gen {
		return false
	}
	r.e.acked = true
	moved := false
	for len(w.entries) > 0 && w.entries[0].acked {
		w.mark = w.entries[0].pos
		w.entries[0] = nil
		w.entries = w.entries[1:]
		moved = true
	}
	return moved
}

// current reports whether r belongs to the current generation.
func (w *window) current(r *ref) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return r.gen == w.gen
}

// toCommit returns the watermark when it is past the committed position.
func (w *window) toCommit() (position, int, bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.mark, w.gen, w.mark != w.committed
}

// committedAt records a successful commit of pos in generation gen.
func (w *window) committedAt(pos position, gen int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if gen == w.gen {
		w.committed = pos
	}
}
