package cli

import "github.com/flowrun/flowrun/schema"

func schemaCmd(_ []string, io IO) int {
	_, _ = io.Stdout.Write(schema.Embedded())
	return ExitOK
}
