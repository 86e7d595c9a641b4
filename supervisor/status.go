package supervisor

import (
	"time"
)

// Status is one flow as /flows shows it. Counts add up every run of the
// flow (restarts and reloads), the one in progress included.
type Status struct {
	Name      string    `json:"name"`
	File      string    `json:"file"`
	State     State     `json:"state"`
	Since     time.Time `json:"since"` // when the current run began, or the flow entered Draining, Restarting or Stopped
	Restarts  int       `json:"restarts"`
	Reloads   int       `json:"reloads"`
	LastError string    `json:"last_error"` // of a failed run or a rejected version of the file; "" once a new version runs
	In        int64     `json:"in"`
	Out       int64     `json:"out"`
	Lost      int64     `json:"lost"`
	ready     bool
}

// Status reports the flow's state now.
func (f *Flow) Status() Status {
	f.mu.Lock()
	defer f.mu.Unlock()
	st := Status{Name: f.cur.Name, File: f.file, State: f.phase, Since: f.since, Restarts: f.restarts,
		Reloads: f.reloads, LastError: f.lastErr, In: f.total.In, Out: f.total.Out, Lost: f.total.Lost}
	if f.pipe != nil {
		if f.phase == Running {
			// A pipeline is ready from its first read until its drain
			// starts: before, it is opening; after, draining.
			switch {
			case f.pipe.Ready():
				f.wasReady = true
			case f.wasReady:
				st.State = Draining
			default:
				st.State = Starting
			}
		}
		p := f.pipe.Progress()
		st.In, st.Out, st.Lost = st.In+p.In, st.Out+p.Out, st.Lost+p.Lost
	}
	st.ready = st.State == Running || (st.State == Stopped && f.ended)
	return st
}

// Statuses reports every flow, in the order of Flows.
func (s *Supervisor) Statuses() []Status {
	out := make([]Status, len(s.flows))
	for i, f := range s.flows {
		out[i] = f.Status()
	}
	return out
}
