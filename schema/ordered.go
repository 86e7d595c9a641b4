package schema

import (
	"bytes"
	"encoding/json"
	"fmt"
)

// obj is a JSON object that keeps its keys in the order they were set,
// so the generated file reads in documentation order (version, name,
// source...) rather than alphabetically, and stays stable across runs.
type obj struct {
	keys []string
	vals map[string]any
}

func newObj() *obj { return &obj{vals: map[string]any{}} }

// set adds or replaces k and returns o, for chaining.
func (o *obj) set(k string, v any) *obj {
	if _, ok := o.vals[k]; !ok {
		o.keys = append(o.keys, k)
	}
	o.vals[k] = v
	return o
}

// setIf sets k only when v is not the zero value (empty string, nil).
func (o *obj) setIf(k string, v any) *obj {
	if v == nil || v == "" {
		return o
	}
	return o.set(k, v)
}

// MarshalJSON writes the keys in order, without HTML escaping (so
// "payload.amount > 500" stays readable in the file).
func (o *obj) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, k := range o.keys {
		if i > 0 {
			b.WriteByte(',')
		}
		key, err := marshal(k)
		if err != nil {
			return nil, err
		}
		val, err := marshal(o.vals[k])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k, err)
		}
		b.Write(key)
		b.WriteByte(':')
		b.Write(val)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}

// marshal is json.Marshal without HTML escaping and without the
// encoder's trailing newline.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}
