package cli

import (
	"fmt"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/redact"
)

func graph(args []string, io IO) int {
	fs := newFlags("graph", io, "[--format mermaid|dot] FILE")
	format := fs.String("format", "mermaid", "mermaid or dot")
	files, err := fs.parse(args, oneFlowFile)
	if err == nil && !oneOf(*format, "mermaid", "dot") {
		err = usageErrorf("--format must be mermaid or dot, not %q", *format)
	}
	if err != nil {
		return fs.exit(err)
	}
	flow, ds := compiler.CompileFile(files[0])
	if flow == nil {
		for _, d := range ds {
			fmt.Fprintln(io.Stderr, d.String())
		}
		return ExitFailure
	}
	secrets := &redact.Redactor{}
	secrets.Add(flow.Secrets()...)
	io = io.redacted(secrets)
	if *format == "dot" {
		fmt.Fprint(io.Stdout, flow.Graph.DOT())
	} else {
		fmt.Fprint(io.Stdout, flow.Graph.Mermaid())
	}
	return ExitOK
}
