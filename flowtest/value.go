package flowtest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"sort"
	"strconv"

	"github.com/flowrun/flowrun/dsl"
	"gopkg.in/yaml.v3"
)

// nodeJSON writes a YAML value as JSON. Numbers keep the digits they are
// written with (12.50 stays 12.50), as flowrun keeps a payload's.
func nodeJSON(n *dsl.Node) ([]byte, error) {
	var b bytes.Buffer
	err := writeJSON(&b, n)
	return b.Bytes(), err
}

func writeJSON(b *bytes.Buffer, n *dsl.Node) error {
	switch n.Kind {
	case dsl.Null:
		b.WriteString("null")
	case dsl.Map:
		b.WriteByte('{')
		for i, f := range n.Fields {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, f.Key)
			b.WriteByte(':')
			if err := writeJSON(b, f.Value); err != nil {
				return err
			}
		}
		b.WriteByte('}')
	case dsl.List:
		b.WriteByte('[')
		for i, item := range n.Items {
			if i > 0 {
				b.WriteByte(',')
			}
			if err := writeJSON(b, item); err != nil {
				return err
			}
		}
		b.WriteByte(']')
	default:
		return writeScalar(b, n)
	}
	return nil
}

func writeScalar(b *bytes.Buffer, n *dsl.Node) error {
	switch n.Tag {
	case "!!int", "!!float":
		if json.Valid([]byte(n.Value)) {
			b.WriteString(n.Value)
			return nil
		}
		var v any // 0x1F, 1_000, .5: YAML's spellings, written as JSON's
		if err := yaml.Unmarshal([]byte(n.Value), &v); err != nil {
			return fmt.Errorf("%s: %w", n.Value, err)
		}
		out, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("%s is not a JSON number", n.Value)
		}
		b.Write(out)
	case "!!bool":
		v, err := strconv.ParseBool(n.Value)
		if err != nil {
			return err
		}
		b.WriteString(strconv.FormatBool(v))
	default:
		writeString(b, n.Value)
	}
	return nil
}

func writeString(b *bytes.Buffer, s string) {
	enc := json.NewEncoder(b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string cannot fail
	b.Truncate(b.Len() - 1)
}

// canonical parses JSON with its numbers as written and returns it with
// sorted keys and no spaces, so two documents compare by their values
// regardless of key order and spacing, numbers by their written digits
// (1.5 and 1.50 differ, as the flow's output would); ok is false when
// data is not one JSON document.
func canonical(data []byte) (any, bool) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, false
	}
	if dec.More() {
		return nil, false
	}
	return v, true
}

// compact writes a canonical value as one line of JSON (keys sorted,
// numbers as written, no HTML escaping).
func compact(v any) string {
	var b bytes.Buffer
	writeValue(&b, v)
	return b.String()
}

func writeValue(b *bytes.Buffer, v any) {
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, k)
			b.WriteByte(':')
			writeValue(b, v[k])
		}
		b.WriteByte('}')
	case []any:
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			writeValue(b, x)
		}
		b.WriteByte(']')
	case string:
		writeString(b, v)
	case json.Number:
		b.WriteString(v.String())
	case map[string]string:
		m := make(map[string]any, len(v))
		for k, s := range v {
			m[k] = s
		}
		writeValue(b, m)
	default:
		out, _ := json.Marshal(v)
		b.Write(out)
	}
}
