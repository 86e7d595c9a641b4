package stages

import (
	"errors"
	"fmt"

	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func init() {
	registry.RegisterStage(&registry.StageSpec{
		Name:    "route",
		Summary: "Sends each message to the first named sink (under sinks:) whose condition is true, else to the default.",
		Example: "route:\n  - {when: payload.amount > 1000, to: large}\n  - {default: normal}",
		Value: registry.Field{Type: registry.List, Doc: "rules tried in order, then a final {default: sink}", Elem: &registry.Field{
			Type: registry.Object, Fields: []registry.Field{
				{Name: "when", Type: registry.Expr, Scope: expression.MessageScope, Doc: "a boolean expression"},
				{Name: "to", Type: registry.String, Doc: "the sink (a name under sinks:) for messages matching when"},
				{Name: "default", Type: registry.String, Doc: "the sink for messages no rule matched; only in the last item"},
			}}},
		// One route decides each message's sink; a second could only
		// overrule the first.
		Unique: true,
		Routes: true,
		Build:  buildRoute,
	})
}

func buildRoute(b *registry.Build, v any) (registry.Built, error) {
	rules := v.([]any)
	r := &route{def: -1}
	var errs []error
	sink := func(name string, i int, field string) int {
		idx, ok := b.SinkIndex(name)
		if !ok {
			errs = append(errs, registry.At(fmt.Errorf("no sink named %q%s (sinks: %v)", name, diag.DidYouMean(name, b.Sinks), b.Sinks), i, field))
		}
		return idx
	}
	for i, item := range rules {
		rule := item.(registry.Config)
		when, to, def := rule.Expr("when"), rule.String("to"), rule.String("default")
		switch {
		case def != "" && (when != nil || to != ""):
			errs = append(errs, registry.At(errors.New("a default rule has only default: SINK"), i))
		case def != "":
			if i != len(rules)-1 {
				errs = append(errs, registry.At(errors.New("default must be the last rule"), i))
			}
			r.def = sink(def, i, "default")
		case when == nil || to == "":
			errs = append(errs, registry.At(errors.New("a rule needs both when: EXPR and to: SINK"), i))
		default:
			r.when = append(r.when, when)
			r.to = append(r.to, sink(to, i, "to"))
		}
	}
	if r.def < 0 && len(errs) == 0 {
		errs = append(errs, errors.New("route needs a final {default: SINK} so no message is left without a sink"))
	}
	if len(errs) > 0 {
		return registry.Built{}, errors.Join(errs...)
	}
	built := registry.Built{Step: r}
	for i, w := range r.when {
		built.Routes = append(built.Routes, registry.RouteRule{Sink: r.to[i], When: w.Source})
	}
	built.Routes = append(built.Routes, registry.RouteRule{Sink: r.def})
	return built, nil
}

type route struct {
	when []*expression.Program
	to   []int
	def  int
}

func (r *route) Apply(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
	m.Route = r.def
	for i, w := range r.when {
		ok, err := x.EvalBool(w, m)
		if err != nil {
			return out, err
		}
		if ok {
			m.Route = r.to[i]
			break
		}
	}
	return append(out, m), nil
}
