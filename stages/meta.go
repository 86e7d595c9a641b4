package stages

import (
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func init() {
	registry.RegisterStage(&registry.StageSpec{
		Name:    "meta",
		Summary: "Sets metadata entries (Kafka headers, broker properties); values are formatted as strings.",
		Example: `meta: {source: '"payments"', region: payload.country}`,
		Value:   registry.Field{Type: registry.Map, Elem: &registry.Field{Type: registry.Expr, Scope: expression.MessageScope}, Doc: "each key a metadata name, each value the expression whose result, as a string, is stored there"},
		Build: func(_ *registry.Build, v any) (registry.Built, error) {
			s := &meta{}
			for _, e := range v.([]registry.Entry) {
				s.names = append(s.names, e.Key)
				s.exprs = append(s.exprs, e.Value.(*expression.Program))
			}
			return registry.Built{Step: s}, nil
		},
	})
}

type meta struct {
	names []string
	exprs []*expression.Program
}

func (s *meta) Apply(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
	for i, p := range s.exprs {
		v, err := x.EvalString(p, m)
		if err != nil {
			return out, err
		}
		m.SetMeta(s.names[i], v)
	}
	return append(out, m), nil
}
