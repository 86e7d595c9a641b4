package compiler_test

import (
	"testing"
)

// head is the start of every test flow; src := head + source + ... .
const (
	head   = "version: 1\nname: t\n"
	source = "source: {ctest-queue: {brokers: [b1], topic: in}}\n"
	sink   = "sink: {ctest-out: {path: out}}\n"
	two    = "sinks:\n  large: {ctest-out: {path: large}}\n  small: {ctest-out: {path: small}}\n"
)

func TestCompileDiagnostics(t *testing.T) {
	cases := []struct {
		name string
		src  string
		want []string // «needle» is replaced by the position of needle in src
	}{
		{"no source: the parse problem alone, and no graph built",
			head + sink + "stages:\n  - filter: payload.ok\n",
			[]string{"«version»: source is required: exactly one connector, e.g. `source: {file: {path: in.jsonl}}`"}},
		{"unknown stage kind with suggestion",
			head + source + sink + "stages:\n  - fliter: payload.ok\n",
			[]string{`«fliter»: stages[0].fliter: unknown stage kind "fliter"; did you mean "filter"? (available: [batch filter key log map meta route set split])`}},
		{"unknown connector with suggestion",
			head + "source: {ctest-queu: {}}\n" + sink,
			[]string{`«ctest-queu»: source.ctest-queu: unknown source connector "ctest-queu"; did you mean "ctest-queue"? (available: [ctest-gen ctest-pair ctest-queue])`}},
		{"unknown connector, nothing close",
			head + source + "sink: {kafak: {}}\n",
			[]string{`«kafak»: sink.kafak: unknown sink connector "kafak" (available: [ctest-out ctest-queue])`}},
		{"connector that cannot be a source",
			head + "source:\n  ctest-out: {path: x}\n" + sink,
			[]string{`«ctest-out»: source.ctest-out: connector "ctest-out" cannot be a source (sources: [ctest-gen ctest-pair ctest-queue])`}},
		{"connector that cannot be a sink or dead letter",
			head + source + sink + "dead_letter: {ctest-gen: {payload: counter}}\n",
			[]string{`«ctest-gen»: dead_letter.ctest-gen: connector "ctest-gen" cannot be a sink (sinks: [ctest-out ctest-queue])`}},
		{"unknown connector field with suggestion",
			head + "source: {ctest-queue: {brokers: [b1], topic: in, grup: g}}\n" + sink,
			[]string{`«grup»: source.ctest-queue.grup: unknown key "grup"; did you mean "group"? (known: brokers, topic, group, timeout, max_bytes, acks)`}},
		{"missing required fields",
			head + "source:\n  ctest-queue:\n    group: g\n" + sink,
			[]string{
				`«group»: source.ctest-queue: brokers is required: broker addresses`,
				`«group»: source.ctest-queue: topic is required: the topic`,
			}},
		{"required field of an empty config",
			head + "source: {ctest-queue: }\n" + sink,
			[]string{
				`«}»: source.ctest-queue: brokers is required: broker addresses`,
				`«}»: source.ctest-queue: topic is required: the topic`,
			}},
		{"bad duration, size and enum value",
			head + "source:\n  ctest-queue:\n    brokers: [b1]\n    topic: in\n    timeout: 2 seconds\n    max_bytes: 12 parsecs\n    acks: leadr\n" + sink,
			[]string{
				`«2 seconds»: source.ctest-queue.timeout: expected a duration such as 500ms, 2s or 1m, got "2 seconds"`,
				`«12 parsecs»: source.ctest-queue.max_bytes: expected a size such as 1048576, 64KiB or 1MiB, got "12 parsecs"`,
				`«leadr»: source.ctest-queue.acks: "leadr" is not one of none, leader, all; did you mean "leader"?`,
			}},
		{"wrong shapes",
			head + "source: {ctest-queue: {brokers: b1, topic: [in]}}\n" + sink + "codec: json\n",
			[]string{
				`«b1»: source.ctest-queue.brokers: expected a list, got "b1"`,
				`«[in]»: source.ctest-queue.topic: expected a string, got a list`,
				`«codec»: codec: unknown key "codec"`,
			}},
		{"unknown codec",
			head + "source: {ctest-queue: {brokers: [b1], topic: in}, codec: jsn}\n" + sink,
			[]string{`«jsn»: source.codec: unknown codec "jsn"; use json, text or bytes; did you mean "json"?`}},
		{"unknown name inside an expression",
			head + source + sink + "stages:\n  - filter: payload.amount > 5 && paylod.x\n",
			[]string{`«paylod»: stages[0].filter: unknown name paylod`}},
		{"batch outside reduce",
			head + source + sink + "stages:\n  - map: '{\"n\": len(batch)}'\n",
			[]string{`«batch)»: stages[0].map: unknown name batch (batch and batch_key exist only in a batch stage's reduce)`}},
		{"batch_key in a batch key",
			head + source + sink + "stages:\n  - batch: {size: 2, key: batch_key}\n",
			[]string{`«batch_key»: stages[0].batch.key: unknown name batch_key (batch and batch_key exist only in a batch stage's reduce)`}},
		{"payload in reduce",
			head + source + sink + "stages:\n  - batch: {size: 2, reduce: payload.x}\n",
			[]string{`«payload.x»: stages[0].batch.reduce: unknown name payload (in scope here: batch, batch_key)`}},
		{"counter outside generate",
			head + source + sink + "stages:\n  - set: {n: counter + 1}\n",
			[]string{`«counter»: stages[0].set.n: unknown name counter (counter exists only in the generate source's payload)`}},
		{"payload in generate",
			head + "source: {ctest-gen: {payload: 'payload.n + counter'}}\n" + sink,
			[]string{`«payload.n»: source.ctest-gen.payload: unknown name payload (in scope here: counter)`}},
		{"type error in an expression",
			head + source + sink + "stages:\n  - filter: '\"a\" * 2'\n",
			[]string{`«*»: stages[0].filter: invalid operation: * (mismatched types string and int)`}},
		{"empty expression",
			head + source + sink + "stages:\n  - filter: ''\n  - map:\n",
			[]string{
				`«''»: stages[0].filter: expected an expression, got ""`,
				`f.yaml:7:9: stages[1].map: expected an expression, got nothing`, // just after "  - map:"
			}},
		{"route to a missing sink",
			head + source + two + "stages:\n  - route:\n      - {when: payload.big, to: lage}\n      - {default: small}\n",
			[]string{`«lage»: stages[0].route[0].to: no sink named "lage"; did you mean "large"? (sinks: [large small])`}},
		{"route without default",
			head + source + two + "stages:\n  - route:\n      - {when: payload.big, to: large}\n",
			[]string{`«- {when»: stages[0].route: route needs a final {default: SINK} so no message is left without a sink`}},
		{"every problem of a route",
			head + source + two + "stages:\n  - route:\n      - {default: small}\n      - {when: payload.big}\n      - {to: large, default: small}\n",
			[]string{
				`«{default: small}»: stages[0].route[0]: default must be the last rule`,
				`«{when: payload.big}»: stages[0].route[1]: a rule needs both when: EXPR and to: SINK`,
				`«{to: large»: stages[0].route[2]: a default rule has only default: SINK`,
			}},
		{"route with sink: instead of sinks:",
			head + source + sink + "stages:\n  - route:\n      - {when: payload.big, to: sink}\n      - {default: sink}\n",
			[]string{"«route»: stages[0]: route sends messages to named sinks: declare them under `sinks:` instead of `sink:`"}},
		{"route to named sinks with sink: says so once",
			head + source + sink + "stages:\n  - route:\n      - {when: payload.big, to: large}\n      - {default: small}\n",
			[]string{"«route»: stages[0]: route sends messages to named sinks: declare them under `sinks:` instead of `sink:`"}},
		{"two batches",
			head + source + sink + "stages:\n  - batch: {size: 1}\n  - batch: {size: 2}\n",
			[]string{
				`«batch»: stages[0]: batch must be the last stage: it hands whole batches to the sink`,
				`«batch#2»: stages[1]: only one batch stage per flow (the first is at line 6)`,
			}},
		{"batch named like another graph node",
			head + source + sink + "stages:\n  - {name: sink, batch: {size: 1}}\n",
			[]string{`«{name: sink»: stages[0]: a batch stage cannot be named "sink": the graph has a sink node; choose another name`}},
		{"two routes",
			head + source + two + "stages:\n  - route: [{default: small}]\n  - route: [{default: large}]\n",
			[]string{`«route#2»: stages[1]: only one route stage per flow (the first is at line 8)`}},
		{"batch not last",
			head + source + sink + "stages:\n  - batch: {size: 10}\n  - map: payload\n",
			[]string{`«batch»: stages[0]: batch must be the last stage: it hands whole batches to the sink`}},
		{"batch size below 1",
			head + source + sink + "stages:\n  - batch: {size: 0, timeout: 0s}\n",
			[]string{
				`«0,»: stages[0].batch.size: must be at least 1, got 0`,
				`«0s»: stages[0].batch.timeout: must be at least 1ms, got 0s`,
			}},
		{"several sinks without route",
			head + source + two,
			[]string{`«large»: sinks: with several sinks, add a route stage to choose one per message`}},
		{"set with an empty path part",
			head + source + sink + "stages:\n  - set: {a..b: 1}\n",
			[]string{`«1}»: stages[0].set.a..b: field path "a..b" has an empty part`}},
		{"unknown middleware with suggestion",
			head + source + sink + "middleware:\n  - timout: 2s\n",
			[]string{`«timout»: middleware[0]: unknown middleware "timout"; did you mean "timeout"? (available: [circuit_breaker dedupe retry throttle timeout])`}},
		{"middleware bad values",
			head + source + sink + "middleware:\n  - timeout: forever\n  - throttle: {per_second: fast}\n  - retry: [3]\n",
			[]string{
				`«forever»: middleware[0].timeout: expected a duration such as 500ms, 2s or 1m, got "forever"`,
				`«fast»: middleware[1].throttle.per_second: expected a number, got "fast"`,
				`«[3]»: middleware[2].retry: expected a map with max_retries, initial_interval, max_interval, multiplier, max_elapsed, jitter, got a list`,
			}},
		{"numbers that are not finite",
			head + source + sink + "middleware:\n  - throttle: {per_second: nan}\n  - retry: {multiplier: inf}\n",
			[]string{
				`«nan»: middleware[0].throttle.per_second: expected a number, got "nan"`,
				`«inf»: middleware[1].retry.multiplier: expected a number, got "inf"`,
			}},
		{"log level enum",
			head + source + sink + "stages:\n  - log: {message: payload, level: loud}\n",
			[]string{`«loud»: stages[0].log.level: "loud" is not one of debug, info, warn, error`}},
		{"partition_by is an expression",
			head + source + sink + "partition_by: payload.user +\n",
			[]string{`«+»: partition_by: unexpected token EOF`}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			flow, ds := compileSrc(t, tc.src)
			if flow != nil {
				t.Errorf("got a flow despite problems")
			}
			wantDiags(t, tc.src, ds, tc.want)
		})
	}
}
