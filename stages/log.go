package stages

import (
	"context"
	"log/slog"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func init() {
	registry.RegisterStage(&registry.StageSpec{
		Name:    "log",
		Summary: "Writes the expression's value as a structured log line and passes the message on; numbers are written as in the payload's JSON.",
		Example: `log: '{"user": payload.user, "amount": payload.amount}'`,
		Value: registry.Field{Type: registry.Object, Shorthand: "message", Fields: []registry.Field{
			{Name: "message", Type: registry.Expr, Scope: expression.MessageScope, Required: true, Doc: "the value to log"},
			{Name: "level", Type: registry.String, Default: "info", Enum: []string{"debug", "info", "warn", "error"}, Doc: "log level"},
		}},
		Build: func(b *registry.Build, v any) (registry.Built, error) {
			c := v.(registry.Config)
			var lvl slog.Level
			if err := lvl.UnmarshalText([]byte(c.String("level"))); err != nil {
				return registry.Built{}, registry.At(err, "level")
			}
			return registry.Built{Step: &logStep{stage: b.Stage, expr: c.Expr("message"), level: lvl}}, nil
		},
	})
}

type logStep struct {
	stage string
	expr  *expression.Program
	level slog.Level
}

func (s *logStep) Apply(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
	if !x.Logger.Enabled(context.Background(), s.level) {
		return append(out, m), nil
	}
	v, err := x.Eval(s.expr, m)
	if err != nil {
		return out, err
	}
	x.Logger.Log(context.Background(), s.level, "log", "stage", s.stage, "id", m.ID, "value", message.Formatted{V: v})
	return append(out, m), nil
}
