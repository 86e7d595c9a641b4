// Package stages holds flowrun's stage kinds, one file per kind. Each
// file registers a registry.StageSpec in init: its value's shape (which
// drives validation and the JSON Schema) and a Build that returns a
// registry.Step (run per message by the processors), a
// *registry.BatchPlan or a route step. To add a kind, copy filter.go.
package stages

import (
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/registry"
)

func exprField(doc string) registry.Field {
	return registry.Field{Type: registry.Expr, Scope: expression.MessageScope, Doc: doc}
}
