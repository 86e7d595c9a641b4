package stages

import (
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func init() {
	registry.RegisterStage(&registry.StageSpec{
		Name:    "map",
		Summary: "Replaces the payload with the expression's result.",
		Example: `map: '{"id": payload.id, "cents": int(round(payload.amount * 100))}'`,
		Value:   exprField("its result becomes the new payload"),
		Build: func(_ *registry.Build, v any) (registry.Built, error) {
			return registry.Built{Step: &mapStep{expr: v.(*expression.Program)}}, nil
		},
	})
}

type mapStep struct{ expr *expression.Program }

func (s *mapStep) Apply(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
	v, err := x.Eval(s.expr, m)
	if err != nil {
		return out, err
	}
	m.SetPayload(v)
	return append(out, m), nil
}
