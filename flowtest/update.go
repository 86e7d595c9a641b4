package flowtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"slices"
	"sort"

	"github.com/flowrun/flowrun/message"
	"gopkg.in/yaml.v3"
)

// Update rewrites, in each test file that ran, every test's expected
// outputs (of the sinks it lists, or of every sink when it lists none),
// dead letters and counts with what the flow produced: golden mode. The rest of the file (inputs, conditions,
// comments) is kept; the YAML is written again with 2-space indents.
// It returns the files it changed, and a line for each failed test it
// left alone because its flow did not compile or its run did not
// complete: what such a run produced is no expectation.
func Update(r *Report) (changed, notUpdated []string, err error) {
	for _, f := range r.Files {
		if len(f.Invalid) > 0 {
			continue
		}
		src, err := os.ReadFile(f.File)
		if err != nil {
			return changed, notUpdated, err
		}
		var doc yaml.Node
		if err := yaml.Unmarshal(src, &doc); err != nil {
			return changed, notUpdated, fmt.Errorf("%s: %w", f.File, err)
		}
		tests := mapGet(doc.Content[0], "tests")
		for _, res := range f.Results {
			if res.Got == nil && !res.Invalid && !res.Passed() {
				why := "its flow did not compile"
				if res.RunError != nil {
					why = "its run did not complete"
				}
				notUpdated = append(notUpdated, fmt.Sprintf("%s: %s: not updated: %s; fix that first", res.Test.At.Pos, res.Test.Name, why))
			}
			if res.Got == nil || res.Invalid || tests == nil || res.Test.Index >= len(tests.Content) {
				continue
			}
			updateTest(tests.Content[res.Test.Index], res.Got)
		}
		var out bytes.Buffer
		enc := yaml.NewEncoder(&out)
		enc.SetIndent(2)
		if err := enc.Encode(&doc); err != nil {
			return changed, notUpdated, fmt.Errorf("%s: %w", f.File, err)
		}
		if bytes.Equal(out.Bytes(), src) {
			continue
		}
		if err := os.WriteFile(f.File, out.Bytes(), 0o644); err != nil {
			return changed, notUpdated, err
		}
		changed = append(changed, f.File)
	}
	return changed, notUpdated, nil
}

func updateTest(t *yaml.Node, g *Got) {
	expect := mapGet(t, "expect")
	if expect == nil || expect.Kind != yaml.MappingNode {
		expect = &yaml.Node{Kind: yaml.MappingNode}
		mapSet(t, "expect", expect)
	}
	expect.Style = 0 // `expect: {outputs: {sink: []}}` grows into a block
	// The sinks a test lists are rewritten; a test that lists none gets all.
	listed := mapGet(expect, "outputs")
	outputs := &yaml.Node{Kind: yaml.MappingNode}
	for _, c := range g.Flow.Sinks {
		if listed != nil && mapGet(listed, c.Role) == nil {
			continue
		}
		list := &yaml.Node{Kind: yaml.SequenceNode}
		for _, m := range g.Outputs[c.Role] {
			list.Content = append(list.Content, msgNode(m, c.Codec, false))
		}
		if len(list.Content) == 0 {
			list.Style = yaml.FlowStyle // []
		}
		mapSet(outputs, c.Role, list)
	}
	if listed == nil || len(outputs.Content) > 0 {
		mapSet(expect, "outputs", outputs)
	}
	if g.Flow.DeadLetter != nil && (len(g.DeadLetter) > 0 || mapGet(expect, "dead_letter") != nil) {
		list := &yaml.Node{Kind: yaml.SequenceNode}
		for _, m := range g.DeadLetter {
			list.Content = append(list.Content, msgNode(m, g.Flow.Source.Codec, true))
		}
		if len(list.Content) == 0 {
			list.Style = yaml.FlowStyle
		}
		mapSet(expect, "dead_letter", list)
	}
	for _, c := range []struct {
		name string
		n    int64
	}{{"filtered", g.Summary.Filtered}, {"nacked", g.Summary.Nacked}, {"discarded", g.Summary.Discarded}} {
		if c.n > 0 || mapGet(expect, c.name) != nil {
			mapSet(expect, c.name, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!int", Value: fmt.Sprint(c.n)})
		}
	}
}

// msgNode is a received message as a test file expects one.
func msgNode(m got, codec message.Codec, dead bool) *yaml.Node {
	n := &yaml.Node{Kind: yaml.MappingNode}
	obj := map[string]any{}
	putBody(obj, m.Body, codec)
	if v, ok := obj["payload"]; ok {
		mapSet(n, "payload", valueNode(v, true))
	} else {
		mapSet(n, "raw", str(obj["raw"].(string)))
	}
	if m.Key != "" {
		mapSet(n, "key", str(m.Key))
	}
	meta := maps.Clone(m.Meta)
	if dead {
		for _, k := range deadMeta {
			delete(meta, k)
		}
	}
	if len(meta) > 0 {
		mn := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
		keys := slices.Sorted(maps.Keys(meta))
		for _, k := range keys {
			mapSet(mn, k, str(meta[k]))
		}
		mapSet(n, "meta", mn)
	}
	if dead {
		mapSet(n, "error_stage", str(m.Meta["error_stage"]))
		mapSet(n, "error", str(firstLine(m.Meta["error"])))
	}
	return n
}

// valueNode writes a canonical JSON value as YAML, in flow style.
func valueNode(v any, top bool) *yaml.Node {
	switch v := v.(type) {
	case map[string]any:
		n := &yaml.Node{Kind: yaml.MappingNode, Style: yaml.FlowStyle}
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			mapSet(n, k, valueNode(v[k], false))
		}
		return n
	case []any:
		n := &yaml.Node{Kind: yaml.SequenceNode, Style: yaml.FlowStyle}
		for _, x := range v {
			n.Content = append(n.Content, valueNode(x, false))
		}
		return n
	case string:
		return str(v)
	case json.Number:
		tag := "!!int"
		if bytes.ContainsAny([]byte(v), ".eE") {
			tag = "!!float"
		}
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: tag, Value: v.String()}
	case bool:
		return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!bool", Value: fmt.Sprint(v)}
	}
	return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!null", Value: "null"}
}

func str(s string) *yaml.Node { return &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: s} }

func mapGet(n *yaml.Node, key string) *yaml.Node {
	if n == nil || n.Kind != yaml.MappingNode {
		return nil
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			return n.Content[i+1]
		}
	}
	return nil
}

// mapSet sets key to v, in place when the key exists (its comments stay).
func mapSet(n *yaml.Node, key string, v *yaml.Node) {
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == key {
			old := n.Content[i+1]
			v.HeadComment, v.LineComment, v.FootComment = old.HeadComment, old.LineComment, old.FootComment
			n.Content[i+1] = v
			return
		}
	}
	n.Content = append(n.Content, &yaml.Node{Kind: yaml.ScalarNode, Tag: "!!str", Value: key}, v)
}
