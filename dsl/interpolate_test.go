package dsl

import (
	"strings"
	"testing"
)

func TestInterpolate(t *testing.T) {
	env := envOf(map[string]string{"HOST": "db.local", "PORT": "5432", "EMPTY": "", "REF": "${HOST}"})
	cases := []struct {
		name, in, want, err string
	}{
		{"no variables", "plain $text {x}", "plain $text {x}", ""},
		{"set", "${HOST}:${PORT}", "db.local:5432", ""},
		{"set, default unused", "${HOST:-other}", "db.local", ""},
		{"unset with default", "${MISSING:-127.0.0.1:9092}", "127.0.0.1:9092", ""},
		{"unset with empty default", "a${MISSING:-}b", "ab", ""},
		{"empty with default takes the default", "${EMPTY:-fallback}", "fallback", ""},
		{"empty without default stays empty", "[${EMPTY}]", "[]", ""},
		{"escaped", "cost: $${HOST} is ${HOST}", "cost: ${HOST} is db.local", ""},
		{"a value is not interpolated again", "${REF}", "${HOST}", ""},
		{"unset", "${MISSING}",
			"", "environment variable MISSING is not set; export it or give a default with ${MISSING:-value}"},
		{"every unset variable is reported", "${A}-${B}",
			"-", "environment variable A is not set; export it or give a default with ${A:-value}\n" +
				"environment variable B is not set; export it or give a default with ${B:-value}"},
		{"unterminated", "x${HOST",
			"x${HOST", `unterminated ${ in "x${HOST"; close it with } or write $${ for a literal`},
		{"invalid name", "${1A}",
			"", `invalid variable name "1A" in ${1A}`},
		{"empty name", "${:-x}",
			"", `invalid variable name "" in ${:-x}`},
		// ${FOO:-${BAR:-deep}} gave "foo}" or the literal text.
		{"nested default", "${MISSING:-${OTHER:-deep}}", "deep", ""},
		{"nested default, inner set", "${MISSING:-${HOST:-deep}}!", "db.local!", ""},
		{"nested default, outer set", "${PORT:-${HOST:-deep}}", "5432", ""},
		{"an unused default is not read", "${HOST:-${UNSET}}", "db.local", ""},
		{"a used default reports its unset variables", "${MISSING:-${UNSET}}",
			"", "environment variable UNSET is not set; export it or give a default with ${UNSET:-value}"},
		{"text around nested references", "a${MISSING:-b${MISSING:-c}d}e", "abcde", ""},
		{"$$ before { is one $", "$$${HOST} $$$${HOST} $$$$${HOST}", "$db.local $${HOST} $$db.local", ""},
		{"$$ elsewhere is itself", "a$$b $ ${HOST}$", "a$$b $ db.local$", ""},
		{"escaped inside a default", "${MISSING:-$${HOST}}", "${HOST}", ""},
		{"nesting is bounded", strings.Repeat("${A:-", 9) + "x" + strings.Repeat("}", 9),
			strings.Repeat("${A:-", 9) + "x" + strings.Repeat("}", 9),
			`${...} defaults nest more than 8 levels deep in "` + strings.Repeat("${A:-", 9) + "x" + strings.Repeat("}", 9) + `"; set a variable instead`},
		{"unterminated default", "${MISSING:-${HOST}",
			"${MISSING:-${HOST}", `unterminated ${ in "${MISSING:-${HOST}"; close it with } or write $${ for a literal`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Interpolate(tc.in, env)
			errText := ""
			if err != nil {
				errText = err.Error()
			}
			if got != tc.want || errText != tc.err {
				t.Errorf("Interpolate(%q) = %q, %q; want %q, %q", tc.in, got, errText, tc.want, tc.err)
			}
		})
	}
}

func TestParseInterpolates(t *testing.T) {
	src := "version: 1\nname: ${FLOW_NAME}\nconcurrency: ${WORKERS:-4}\n" +
		"source: {kafka: {brokers: [\"${BROKERS:-127.0.0.1:9092}\"], topic: 'in.$${literal}'}}\nsink: {file: {}}\n"
	f, ds := Parse("f.yaml", []byte(src), envOf(map[string]string{"FLOW_NAME": "payments"}))
	if len(ds) > 0 {
		t.Fatalf("unexpected diagnostics: %v", ds)
	}
	if f.Name != "payments" {
		t.Errorf("name %q", f.Name)
	}
	if f.Concurrency == nil || f.Concurrency.Value != 4 {
		t.Errorf("concurrency %+v, want the default 4", f.Concurrency)
	}
	cfg := f.Source.Config
	if got := cfg.Get("brokers").Items[0].Value; got != "127.0.0.1:9092" {
		t.Errorf("broker %q", got)
	}
	if got := cfg.Get("topic").Value; got != "in.${literal}" {
		t.Errorf("topic %q", got)
	}
}

func TestParseUnsetVariables(t *testing.T) {
	src := "version: 1\nname: x\nsource:\n  file: {path: \"${IN_DIR}/in.jsonl\"}\nsink:\n  file:\n    path: ${OUT_PATH}\nstages:\n  - filter: payload.x == \"${TAG\"\n"
	_, ds := Parse("f.yaml", []byte(src), noEnv)
	wantDiags(t, src, ds, []string{
		`«"${IN_DIR}»: source.file.path: environment variable IN_DIR is not set; export it or give a default with ${IN_DIR:-value}`,
		`«${OUT_PATH}»: sink.file.path: environment variable OUT_PATH is not set; export it or give a default with ${OUT_PATH:-value}`,
		`«payload.x ==»: stages[0].filter: unterminated ${ in "payload.x == \"${TAG\""; close it with } or write $${ for a literal`,
	})
}
