package compiler

import "github.com/flowrun/flowrun/redact"

// Secrets returns the values of every connector field marked secret, so
// the CLI can keep them out of everything it prints.
func (f *Flow) Secrets() []string {
	var out []string
	if f.Source != nil {
		out = append(out, redact.Values(f.Source.Spec.SourceFields, f.Source.Config)...)
	}
	sinks := f.Sinks
	if f.DeadLetter != nil {
		sinks = append(sinks[:len(sinks):len(sinks)], f.DeadLetter)
	}
	for _, s := range sinks {
		out = append(out, redact.Values(s.Spec.SinkFields, s.Config)...)
	}
	return out
}
