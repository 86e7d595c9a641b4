package stages

import (
	"fmt"
	"strconv"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func init() {
	registry.RegisterStage(&registry.StageSpec{
		Name:    "split",
		Summary: "One message per element of the list the expression gives, with id <parent id>.<index> (0-based, as list indexes in expressions); the original is acked when all of them are.",
		Example: `split: payload.items`,
		Value:   exprField("an expression giving a list"),
		Build: func(_ *registry.Build, v any) (registry.Built, error) {
			return registry.Built{Step: &split{expr: v.(*expression.Program)}}, nil
		},
	})
}

type split struct{ expr *expression.Program }

func (s *split) Apply(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
	v, err := x.Eval(s.expr, m)
	if err != nil {
		return out, err
	}
	items, ok := v.([]any)
	if !ok {
		if v != nil {
			return out, fmt.Errorf("split needs a list, the expression gave %s\n | %s", expression.A(v), s.expr.Source)
		}
		return out, nil // nothing to split: the original is settled as filtered
	}
	for i, it := range items {
		c := m.Derive(it)
		if m.ID != "" { // children of a message without id have none either
			c.ID = m.ID + "." + strconv.Itoa(i) // distinct, so a dedupe on id keeps them all
		}
		out = append(out, c)
	}
	return out, nil
}
