package compiler_test

import (
	"context"
	"errors"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/registry"
)

// The compiler tests use their own connectors (prefixed ctest-) so they
// check the compiler, not whichever built-in connectors exist.
var errTestConnector = errors.New("ctest connectors are for compiling only")

func init() {
	queueFields := []registry.Field{
		{Name: "brokers", Type: registry.List, Required: true, Elem: &registry.Field{Type: registry.String}, Doc: "broker addresses"},
		{Name: "topic", Type: registry.String, Required: true, Target: true, Doc: "the topic"},
		{Name: "group", Type: registry.String, Doc: "consumer group"},
		{Name: "timeout", Type: registry.Duration, Default: 0, Doc: "how long to wait"},
		{Name: "max_bytes", Type: registry.Size, Default: 1 << 20, Doc: "largest message"},
		{Name: "acks", Type: registry.String, Default: "all", Enum: []string{"none", "leader", "all"}, Doc: "acknowledgement level"},
	}
	registry.RegisterConnector(&registry.ConnectorSpec{
		Name:         "ctest-queue",
		Summary:      "a broker stand-in: source and sink",
		SourceFields: queueFields,
		SinkFields:   queueFields,
		Redelivers:   true,
		Source:       testSource,
		Sink:         testSink,
	})
	registry.RegisterConnector(&registry.ConnectorSpec{
		Name:       "ctest-out",
		Summary:    "sink only",
		SinkFields: []registry.Field{{Name: "path", Type: registry.String, Target: true, Doc: "where"}},
		Sink:       testSink,
	})
	registry.RegisterConnector(&registry.ConnectorSpec{
		Name:    "ctest-gen",
		Summary: "source only, with a generate-scoped payload expression",
		SourceFields: []registry.Field{
			{Name: "count", Type: registry.Int, Default: 0, Min: registry.F(0), Doc: "how many"},
			{Name: "payload", Type: registry.Expr, Scope: expression.GenerateScope, Required: true, Doc: "payload of message n"},
		},
		Source: testSource,
	})
}

func testSource(context.Context, registry.Config, registry.Env) (registry.Source, error) {
	return nil, errTestConnector
}

func testSink(context.Context, registry.Config, registry.Env) (registry.Sink, error) {
	return nil, errTestConnector
}
