package stages

import (
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func init() {
	registry.RegisterStage(&registry.StageSpec{
		Name:    "filter",
		Summary: "Keeps the message when the boolean expression is true; a dropped message is acked and counted as filtered.",
		Example: `filter: payload.amount > 500 && payload.currency == "EUR"`,
		Value:   exprField("true keeps the message, false drops it; any other value fails the message"),
		Build: func(_ *registry.Build, v any) (registry.Built, error) {
			return registry.Built{Step: &filter{cond: v.(*expression.Program)}}, nil
		},
	})
}

type filter struct{ cond *expression.Program }

func (f *filter) Apply(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
	keep, err := x.EvalBool(f.cond, m)
	if err != nil || !keep {
		return out, err
	}
	return append(out, m), nil
}
