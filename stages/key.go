package stages

import (
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func init() {
	registry.RegisterStage(&registry.StageSpec{
		Name:    "key",
		Summary: "Sets the message key (the Kafka key; brokers partition by it).",
		Example: `key: payload.user`,
		Value:   exprField("its value, formatted as a string, becomes the key"),
		Build: func(_ *registry.Build, v any) (registry.Built, error) {
			return registry.Built{Step: &keyStep{expr: v.(*expression.Program)}}, nil
		},
	})
}

type keyStep struct{ expr *expression.Program }

func (s *keyStep) Apply(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
	k, err := x.EvalString(s.expr, m)
	if err != nil {
		return out, err
	}
	m.Key = k
	return append(out, m), nil
}
