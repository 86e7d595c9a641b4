// Package registry is where stage kinds, connectors and middleware plug
// in. Each registers one Spec; the spec drives validation (the compiler
// checks a flow file's values against its Fields), the JSON Schema
// (`flowrun schema`) and construction. A new stage kind is one file in
// stages/ that calls RegisterStage in init; a new connector is one
// package in connectors/ that calls RegisterConnector.
package registry

import (
	"fmt"
	"sort"
	"sync"
)

var (
	mu         sync.RWMutex
	stages     = map[string]*StageSpec{}
	connectors = map[string]*ConnectorSpec{}
	middleware = map[string]*MiddlewareSpec{}
)

// RegisterStage adds a stage kind; it panics on a duplicate name (a programming error).
func RegisterStage(s *StageSpec) { register(stages, s.Name, s) }

// RegisterConnector adds a connector.
func RegisterConnector(c *ConnectorSpec) { register(connectors, c.Name, c) }

// RegisterMiddleware adds a middleware kind.
func RegisterMiddleware(m *MiddlewareSpec) { register(middleware, m.Name, m) }

func register[T any](m map[string]T, name string, v T) {
	mu.Lock()
	defer mu.Unlock()
	if _, dup := m[name]; dup {
		panic(fmt.Sprintf("registry: %q registered twice", name))
	}
	m[name] = v
}

// LookupStage looks up a stage kind.
func LookupStage(name string) (*StageSpec, bool) { return lookup(stages, name) }

// LookupConnector looks up a connector.
func LookupConnector(name string) (*ConnectorSpec, bool) { return lookup(connectors, name) }

// LookupMiddleware looks up a middleware kind.
func LookupMiddleware(name string) (*MiddlewareSpec, bool) { return lookup(middleware, name) }

func lookup[T any](m map[string]T, name string) (T, bool) {
	mu.RLock()
	defer mu.RUnlock()
	v, ok := m[name]
	return v, ok
}

// Stages returns every stage kind, sorted by name.
func Stages() []*StageSpec { return all(stages) }

// Connectors returns every connector, sorted by name.
func Connectors() []*ConnectorSpec { return all(connectors) }

// Middlewares returns every middleware kind, sorted by name.
func Middlewares() []*MiddlewareSpec { return all(middleware) }

func all[T any](m map[string]T) []T {
	mu.RLock()
	defer mu.RUnlock()
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	out := make([]T, len(names))
	for i, n := range names {
		out[i] = m[n]
	}
	return out
}

// Names returns the names of specs, for "did you mean" and errors.
func Names[T interface{ SpecName() string }](specs []T) []string {
	out := make([]string, len(specs))
	for i, s := range specs {
		out[i] = s.SpecName()
	}
	return out
}
