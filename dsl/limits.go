package dsl

import (
	"fmt"

	"github.com/flowrun/flowrun/diag"
)

// Limits on one flow file, so that a huge or generated file gets one
// clear diagnostic instead of minutes of parsing and a flood of
// follow-on problems. Real flows are a few KB with a few dozen stages.
const (
	MaxFlowBytes = 1 << 20
	MaxStages    = 1000
)

func tooBig(file string, size int64) diag.Diagnostic {
	return diag.Diagnostic{Pos: diag.Pos{File: file}, Message: fmt.Sprintf(
		"the flow file is %d bytes, over the limit of %d (1 MiB); a flow is a few KB, split it into several flows", size, MaxFlowBytes)}
}
