package schema

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/compiler"
)

// fakeFlow is a valid flow of the fake specs; cases change one part.
const fakeFlow = `
version: 1
name: orders-2
source:
  queue: {topic: in}
sink:
  void:
`

// What a real validator says about flows of the fake specs: each valid
// flow passes, each invalid one fails for the reason in its name.
func TestFlowsAgainstTheSchema(t *testing.T) {
	sch := CompileSchema(t, generateFake(t))
	valid := map[string]string{
		"minimal": fakeFlow,
		"every field": `
version: 1
name: all
description: every kind of value
source:
  queue:
    topic: in
    batch: 5
    ratio: 0.5
    durable: false
    wait: 1h30m
    linger: 0
    max_bytes: 64KiB
    mode: fast
    select: payload.ok && meta.x == "y"
    brokers: [a:9092, b:9092]
    headers: {x: y}
    tls: {ca: /etc/ca.pem}
    extra: {anything: [1, 2]}
    password: "${SECRET}"
  codec: text
concurrency: 4
max_demand: 16
max_message_bytes: 1024
partition_by: payload.user
middleware:
  - deadline: 2s
  - deadline: {duration: 500ms}
  - limit: {per_second: 1000}
stages:
  - check: payload.amount > 500
  - check: true
  - name: shape-2
    tag: {count: 1, source: '"x"'}
  - pick: [{when: payload.big, to: large}, {to: small}]
  - group:
sinks:
  large: {queue: {topic: big}, codec: bytes}
  small: {void: {}}
dead_letter:
  void: {}
`,
		"interpolated scalars": `
version: 1
name: env
source:
  queue: {topic: "${TOPIC}", batch: "${BATCH:-4}", durable: "${D:-true}", wait: "${WAIT:-2s}", max_bytes: "${MB}", mode: "${MODE:-safe}"}
concurrency: ${N:-4}
sink: {void: }
`,
		"generate-only source": "version: 1\nname: g\nsource: {gen: {payload: counter}}\nsink: {void: }\n",
	}
	for name, src := range valid {
		if err := ValidateYAML(sch, []byte(src)); err != nil {
			t.Errorf("%s: valid flow rejected: %v", name, err)
		}
	}

	invalid := map[string]string{
		"unknown top-level key":      fakeFlow + "stagez: []\n",
		"missing version":            strings.Replace(fakeFlow, "version: 1\n", "", 1),
		"version 2":                  strings.Replace(fakeFlow, "version: 1", "version: 2", 1),
		"missing name":               strings.Replace(fakeFlow, "name: orders-2\n", "", 1),
		"name with capitals":         strings.Replace(fakeFlow, "orders-2", "Orders", 1),
		"missing source":             "version: 1\nname: x\nsink: {void: }\n",
		"no sink":                    "version: 1\nname: x\nsource: {queue: {topic: in}}\n",
		"sink and sinks":             fakeFlow + "sinks: {a: {void: }}\n",
		"empty sinks":                strings.Replace(fakeFlow, "sink:\n  void:\n", "sinks: {}\n", 1),
		"bad sink name":              strings.Replace(fakeFlow, "sink:\n  void:\n", "sinks: {Big: {void: }}\n", 1),
		"unknown connector":          strings.Replace(fakeFlow, "queue: {topic: in}", "kafka: {topic: in}", 1),
		"sink-only as source":        strings.Replace(fakeFlow, "queue: {topic: in}", "void: {}", 1),
		"source-only as sink":        strings.Replace(fakeFlow, "void:", "gen: {payload: counter}", 1),
		"two connector kinds":        strings.Replace(fakeFlow, "queue: {topic: in}", "queue: {topic: in}\n  gen: {payload: counter}", 1),
		"codec alone":                strings.Replace(fakeFlow, "queue: {topic: in}", "codec: json", 1),
		"unknown codec":              strings.Replace(fakeFlow, "queue: {topic: in}", "queue: {topic: in}\n  codec: xml", 1),
		"unknown connector key":      strings.Replace(fakeFlow, "topic: in", "topic: in, topik: x", 1),
		"missing required field":     strings.Replace(fakeFlow, "topic: in", "batch: 2", 1),
		"string for integer":         strings.Replace(fakeFlow, "topic: in", "topic: in, batch: many", 1),
		"integer below minimum":      strings.Replace(fakeFlow, "topic: in", "topic: in, batch: 0", 1),
		"string for boolean":         strings.Replace(fakeFlow, "topic: in", "topic: in, durable: yes", 1),
		"number for duration":        strings.Replace(fakeFlow, "topic: in", "topic: in, wait: 5", 1),
		"negative duration":          strings.Replace(fakeFlow, "topic: in", "topic: in, wait: -1s", 1),
		"duration without unit":      strings.Replace(fakeFlow, "topic: in", "topic: in, linger: 100", 1),
		"bad size":                   strings.Replace(fakeFlow, "topic: in", "topic: in, max_bytes: 1TB", 1),
		"value not in enum":          strings.Replace(fakeFlow, "topic: in", "topic: in, mode: slow", 1),
		"number for string":          strings.Replace(fakeFlow, "topic: in", "topic: 42", 1),
		"map for list":               strings.Replace(fakeFlow, "topic: in", "topic: in, brokers: {a: b}", 1),
		"list for expression":        strings.Replace(fakeFlow, "topic: in", "topic: in, select: [a]", 1),
		"nested unknown key":         strings.Replace(fakeFlow, "topic: in", "topic: in, tls: {ca: x, verfy: true}", 1),
		"nested required missing":    strings.Replace(fakeFlow, "topic: in", "topic: in, tls: {}", 1),
		"settings for no settings":   strings.Replace(fakeFlow, "void:", "void: {path: x}", 1),
		"concurrency 0":              fakeFlow + "concurrency: 0\n",
		"concurrency as text":        fakeFlow + "concurrency: many\n",
		"stages not a list":          fakeFlow + "stages: {check: x}\n",
		"stage without kind":         fakeFlow + "stages: [{name: x}]\n",
		"stage with two kinds":       fakeFlow + "stages: [{check: a, tag: {x: b}}]\n",
		"unknown stage kind":         fakeFlow + "stages: [{filter: a}]\n",
		"bad stage name":             fakeFlow + "stages: [{name: Shape, check: a}]\n",
		"stage value of wrong shape": fakeFlow + "stages: [{pick: {to: a}}]\n",
		"middleware with two kinds":  fakeFlow + "middleware: [{deadline: 2s, limit: {per_second: 1}}]\n",
		"unknown middleware":         fakeFlow + "middleware: [{retry: {}}]\n",
		"shorthand of wrong type":    fakeFlow + "middleware: [{deadline: soon}]\n",
		"required value given null":  fakeFlow + "middleware: [{limit: }]\n",
		"middleware not a list":      fakeFlow + "middleware: {deadline: 2s}\n",
	}
	for name, src := range invalid {
		if err := ValidateYAML(sch, []byte(src)); err == nil {
			t.Errorf("%s: invalid flow accepted:\n%s", name, src)
		}
	}
}

// The duration and size patterns accept exactly what the compiler does.
func TestPatternsAgreeWithTheCompiler(t *testing.T) {
	duration := regexp.MustCompile(durationPattern)
	for _, s := range []string{"0", "0s", "1ns", "2us", "3µs", "3μs", "500ms", "2s", "1m", "1h", "1h30m", "1.5h",
		".5s", "5.s", "+5s", "1h2m3s4ms", "-1s", "5", "1d", "s", "", "1 s", "1S", "1.2.3s", "5sm", "0.0"} {
		d, err := time.ParseDuration(s)
		compilerOK := (err == nil && d >= 0) || s == "0"
		if got := duration.MatchString(s); got != compilerOK {
			t.Errorf("duration %q: pattern says %v, the compiler %v", s, got, compilerOK)
		}
	}
	size := regexp.MustCompile(sizePattern)
	for _, s := range []string{"0", "1048576", "64KiB", "1MB", "1 MiB", " 2GiB ", "3GB", "5B", "7KB",
		"1TB", "1kb", "1.5MB", "-1", "MB", "", "1 M", "1MiBs"} {
		_, err := compiler.ParseSize(s)
		if got := size.MatchString(s); got != (err == nil) {
			t.Errorf("size %q: pattern says %v, the compiler %v", s, got, err == nil)
		}
	}
	interpolated := regexp.MustCompile(interpolationPattern)
	for s, want := range map[string]bool{"${N}": true, "x-${N:-4}s": true, "$N": false, "{N}": false} {
		if got := interpolated.MatchString(s); got != want {
			t.Errorf("interpolation %q: %v, want %v", s, got, want)
		}
	}
}
