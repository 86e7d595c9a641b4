package dsl

import (
	"strings"

	"github.com/flowrun/flowrun/diag"
	"gopkg.in/yaml.v3"
)

// ParseDocument parses a YAML file that is not a flow (a flow's test
// file) into Nodes with positions and value paths, under the same
// limits as a flow file. Scalars are taken as written: no ${VAR}.
func ParseDocument(file string, src []byte) (*Node, diag.List) {
	if len(src) > MaxFlowBytes {
		return nil, diag.List{tooBig(file, int64(len(src)))}
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(src, &doc); err != nil {
		return nil, diag.List{yamlError(file, src, err)}
	}
	var ds diag.List
	c := &converter{file: file, lines: strings.Split(string(src), "\n"), literal: true, ds: &ds}
	root := c.convert(&doc, "")
	if c.nodes > maxNodes {
		return nil, ds
	}
	return root, ds
}
