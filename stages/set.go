package stages

import (
	"fmt"
	"strings"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func init() {
	registry.RegisterStage(&registry.StageSpec{
		Name:         "set",
		ReadsPayload: true,
		Summary:      "Sets fields of the payload (an object); a.b.c creates objects on the way.",
		Example:      `set: {total: payload.price * payload.qty, audit.seen_at: now()}`,
		Value:        registry.Field{Type: registry.Map, Elem: &registry.Field{Type: registry.Expr, Scope: expression.MessageScope}, Doc: "each key a field path (a.b.c), each value the expression whose result is stored there"},
		Build: func(_ *registry.Build, v any) (registry.Built, error) {
			s := &set{}
			for _, e := range v.([]registry.Entry) {
				path := strings.Split(e.Key, ".")
				for _, p := range path {
					if p == "" {
						return registry.Built{}, registry.At(fmt.Errorf("field path %q has an empty part", e.Key), e.Key)
					}
				}
				s.paths = append(s.paths, path)
				s.exprs = append(s.exprs, e.Value.(*expression.Program))
			}
			return registry.Built{Step: s}, nil
		},
	})
}

type set struct {
	paths [][]string
	exprs []*expression.Program
}

func (s *set) Apply(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
	if err := x.Codec.Decode(m); err != nil {
		return out, &registry.DecodeError{Err: err}
	}
	// Evaluate all first so every expression sees the payload as it came in.
	vals := make([]any, len(s.exprs))
	for i, p := range s.exprs {
		v, err := x.Eval(p, m)
		if err != nil {
			return out, err
		}
		vals[i] = v
	}
	obj, ok := m.Payload.(map[string]any)
	if !ok {
		if m.Payload != nil {
			return out, fmt.Errorf("set needs an object payload, got %s", expression.A(m.Payload))
		}
		obj = map[string]any{}
	}
	for i, path := range s.paths {
		if err := setPath(obj, path, vals[i]); err != nil {
			return out, err
		}
	}
	m.SetPayload(obj)
	return append(out, m), nil
}

func setPath(obj map[string]any, path []string, v any) error {
	for i, p := range path[:len(path)-1] {
		next, ok := obj[p].(map[string]any)
		if !ok {
			if obj[p] != nil {
				return fmt.Errorf("cannot set %s: %s is %s, not an object", strings.Join(path, "."), strings.Join(path[:i+1], "."), expression.A(obj[p]))
			}
			next = map[string]any{}
			obj[p] = next
		}
		obj = next
	}
	obj[path[len(path)-1]] = v
	return nil
}
