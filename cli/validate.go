package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/flowtest"
	"github.com/flowrun/flowrun/redact"
	"github.com/flowrun/flowrun/registry"
)

func validate(args []string, io IO) int {
	fs := newFlags("validate", io, "[--format text|json] [--connect] FILE...")
	format := fs.String("format", "text", "output format: text or json")
	connect := fs.Bool("connect", false, "also check that every connector can reach its server and topic/queue")
	files, err := fs.parse(args, flowFiles)
	if err == nil && !oneOf(*format, "text", "json") {
		err = usageErrorf("--format must be text or json, not %q", *format)
	}
	if err != nil {
		return fs.exit(err)
	}
	var all diag.List
	errs := 0
	secrets := &redact.Redactor{}
	io = io.redacted(secrets)
	for _, file := range files {
		if strings.HasSuffix(file, flowtest.Suffix) { // a flow's tests, beside it
			_, ds := flowtest.Load(file)
			errs += len(ds)
			all = append(all, ds...)
			continue
		}
		flow, ds := compiler.CompileFile(file)
		if flow != nil {
			secrets.Add(flow.Secrets()...)
		}
		if flow != nil && *connect {
			ds = append(ds, checkConnections(flow)...)
		}
		errs += len(ds)
		if flow != nil {
			ds = append(ds, flow.Warnings...)
		}
		all = append(all, ds...)
	}
	shown := all.Shown() // the first 100, then a count of the rest
	if *format == "json" {
		out := shown
		if out == nil {
			out = diag.List{}
		}
		enc := json.NewEncoder(io.Stdout)
		enc.SetIndent("", "  ")
		_ = enc.Encode(out)
	} else {
		for _, d := range shown {
			fmt.Fprintln(io.Stdout, d.String())
		}
		if errs == 0 {
			for _, f := range files {
				fmt.Fprintf(io.Stderr, "%s: ok\n", f)
			}
		} else {
			fmt.Fprintf(io.Stderr, "%d problem(s) in %d file(s)\n", errs, len(files))
		}
	}
	if errs > 0 {
		return ExitFailure
	}
	return ExitOK
}

// checkConnections asks each connector that can to reach its server.
func checkConnections(f *compiler.Flow) diag.List {
	var ds diag.List
	conns := append([]*compiler.Connector{f.Source}, f.Sinks...)
	if f.DeadLetter != nil {
		conns = append(conns, f.DeadLetter)
	}
	for _, c := range conns {
		if c.Spec.Check == nil {
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := c.Spec.Check(ctx, c.Config, registry.Env{Flow: f.Name, Role: c.Role})
		cancel()
		if err != nil {
			ds.Addf(c.Pos, c.Role+"."+c.Kind, "cannot connect: %v", err)
		}
	}
	return ds
}
