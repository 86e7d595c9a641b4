package middleware

import (
	"fmt"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
	"golang.org/x/time/rate"
)

func init() {
	registry.RegisterMiddleware(&registry.MiddlewareSpec{
		Name:    "throttle",
		Summary: "limits the messages per second of the whole flow (all processors share one token bucket)",
		Example: "throttle: {per_second: 1000}",
		Value: registry.Field{Type: registry.Object, Fields: []registry.Field{
			{Name: "per_second", Type: registry.Float, Required: true,
				Doc: "messages per second, e.g. 1000 or 0.5 (one every two seconds)"},
			{Name: "burst", Type: registry.Int, Default: 1, Min: registry.F(1),
				Doc: "messages let through at once after an idle spell; 1 spaces messages evenly"},
		}},
		Build: buildThrottle,
	})
}

func buildThrottle(_ *registry.Build, value any) (*registry.Middleware, error) {
	cfg, err := asConfig("throttle", value)
	if err != nil {
		return nil, err
	}
	perSecond, burst := cfg.Float("per_second"), cfg.Int("burst")
	if perSecond <= 0 {
		return nil, registry.At(fmt.Errorf("per_second must be above 0, got %g", perSecond), "per_second")
	}
	if burst < 1 {
		return nil, registry.At(fmt.Errorf("burst must be 1 or more, got %d", burst), "burst")
	}
	return throttle(rate.NewLimiter(rate.Limit(perSecond), burst)), nil
}

// throttle makes every message take a token from limiter first, waiting
// on x.Ctx so that shutdown and an outer timeout end the wait.
func throttle(limiter *rate.Limiter) *registry.Middleware {
	return &registry.Middleware{Name: "throttle", Wrap: func(next registry.Handler) registry.Handler {
		return func(x *registry.Exec, m *message.Message, out []*message.Message) ([]*message.Message, error) {
			if err := limiter.Wait(x.Ctx); err != nil {
				return out, fmt.Errorf("throttle: %w", err)
			}
			return next(x, m, out)
		}
	}}
}
