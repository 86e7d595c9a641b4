package cli

import "github.com/flowrun/flowrun/schema"

func schemaCmd(args []string, io IO) int {
	fs := newFlags("schema", io, "")
	if _, err := fs.parse(args, nil); err != nil {
		return fs.exit(err)
	}
	_, _ = io.Stdout.Write(schema.Embedded())
	return ExitOK
}
