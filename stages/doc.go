// Package stages holds flowrun's stage kinds, one file per kind. Each
// file registers a registry.StageSpec in init: its value's shape (which
// drives validation and the JSON Schema), where it may stand (Terminal,
// Unique, Routes: the compiler enforces them for every kind alike) and a
// Build that returns a registry.Built: a Step run per message by the
// processors (filter, route) or a batch node (batch). To add a kind,
// copy filter.go; nothing outside this folder names a kind.
package stages

import (
	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/registry"
)

func exprField(doc string) registry.Field {
	return registry.Field{Type: registry.Expr, Scope: expression.MessageScope, Doc: doc}
}
