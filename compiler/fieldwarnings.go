package compiler

import (
	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/registry"
)

// fieldWarnings warns about every connector Bool field that has a
// Warning and is true (tls.insecure_skip_verify).
func fieldWarnings(f *Flow) diag.List {
	var ws diag.List
	add := func(c *Connector, fields []registry.Field) {
		walkWarnings(fields, c.Config, c.Role+"."+c.Kind, func(path, msg string) {
			ws.Add(diag.Diagnostic{Pos: c.Pos, Path: path, Warning: true, Message: msg})
		})
	}
	if f.Source != nil {
		add(f.Source, f.Source.Spec.SourceFields)
	}
	for _, s := range f.Sinks {
		add(s, s.Spec.SinkFields)
	}
	if f.DeadLetter != nil {
		add(f.DeadLetter, f.DeadLetter.Spec.SinkFields)
	}
	return ws
}

func walkWarnings(fields []registry.Field, cfg registry.Config, path string, warn func(path, msg string)) {
	for _, fd := range fields {
		switch v := cfg[fd.Name].(type) {
		case bool:
			if v && fd.Warning != "" {
				warn(path+"."+fd.Name, fd.Warning)
			}
		case registry.Config:
			walkWarnings(fd.Fields, v, path+"."+fd.Name, warn)
		}
	}
}
