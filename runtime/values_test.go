package runtime_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	_ "github.com/flowrun/flowrun/connectors/file"
	_ "github.com/flowrun/flowrun/connectors/generate"
)

// runLines runs flow with IN and OUT replaced by the paths of a file
// holding in (one line each) and of the file the flow writes, and returns
// the lines written (with the input's path written IN).
func runLines(t *testing.T, flow string, in ...string) []string {
	t.Helper()
	dir := t.TempDir()
	inPath, outPath := filepath.Join(dir, "in"), filepath.Join(dir, "out")
	if err := os.WriteFile(inPath, []byte(strings.Join(in, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	runFlow(t, strings.NewReplacer("IN", inPath, "OUT", outPath).Replace(flow))
	out, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	return strings.Split(strings.TrimSuffix(strings.ReplaceAll(string(out), inPath, "IN"), "\n"), "\n")
}

func wantLines(t *testing.T, got []string, want ...string) {
	t.Helper()
	if !slices.Equal(got, want) {
		t.Fatalf("wrote\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// JSON integers are ints in expressions: % works on them, int op int
// stays int, / gives a float, money rounds to the cent.
func TestIntegerArithmeticEndToEnd(t *testing.T) {
	got := runLines(t, `
version: 1
name: ints
source: {file: {path: "IN"}}
concurrency: 1
stages:
  - filter: payload.n % 2 == 0
  - map: '{"n": payload.n, "next": payload.n + 1, "half": payload.n / 2, "cents": int(round(payload.amount * 100))}'
sink: {file: {path: "OUT"}}
`, `{"n":1,"amount":1306.85}`, `{"n":2,"amount":1306.85}`, `{"n":3,"amount":0.1}`,
		`{"n":9223372036854775806,"amount":0.29}`, `{"n":9223372036854775807,"amount":1}`)
	wantLines(t, got,
		`{"cents":130685,"half":1,"n":2,"next":3}`,
		`{"cents":29,"half":4611686018427388000,"n":9223372036854775806,"next":9223372036854775807}`)
}

// The generate source's counter (and any integral value it makes) is an
// int downstream.
func TestGenerateCounterIsAnInt(t *testing.T) {
	got := runLines(t, `
version: 1
name: gen
source: {generate: {count: 6, payload: '{"n": counter, "sq": counter * counter, "half": counter / 2}'}}
concurrency: 1
stages:
  - filter: payload.n % 2 == 0 && payload.sq % 4 == 0 && payload.half % 1 == 0
  - map: '{"n": payload.n, "key": string(payload.n), "half": payload.half}'
sink: {file: {path: "OUT"}}
`)
	wantLines(t, got, `{"half":1,"key":"2","n":2}`, `{"half":2,"key":"4","n":4}`, `{"half":3,"key":"6","n":6}`)
}

// A sink without codec uses the source's: a text or bytes flow writes its
// string results as they are; json (and an explicit codec: json) writes
// JSON.
func TestSinkCodecDefaultsToTheSources(t *testing.T) {
	for _, c := range []struct {
		name, source, sink, expr string
		in                       []string
		want                     []string
	}{
		{"text", "codec: text", "", `payload + "!"`, []string{"alpha", `say "hi"`}, []string{"alpha!", `say "hi"!`}},
		{"bytes", "codec: bytes", "", `string(payload) + "!"`, []string{"alpha"}, []string{"alpha!"}},
		{"text to json", "codec: text", "codec: json", `payload + "!"`, []string{"alpha"}, []string{`"alpha!"`}},
		{"text object", "codec: text", "", `{"line": payload, "n": len(payload) * 1.0}`, []string{"alpha"}, []string{`{"line":"alpha","n":5}`}},
		{"json", "", "", `payload.a + "!"`, []string{`{"a":"x"}`}, []string{`"x!"`}},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := runLines(t, `
version: 1
name: codec
source: {file: {path: "IN"}, `+c.source+`}
concurrency: 1
stages:
  - map: '`+c.expr+`'
sink: {file: {path: "OUT"}, `+c.sink+`}
`, c.in...)
			wantLines(t, got, c.want...)
		})
	}
}

// Split children carry ids derived from their parent's, through a whole
// flow to the sink.
func TestSplitChildIDsReachTheSink(t *testing.T) {
	got := runLines(t, `
version: 1
name: split-ids
source: {file: {path: "IN"}}
concurrency: 1
stages:
  - split: payload.items
sink: {file: {path: "OUT", envelope: true}}
`, `{"items":[{"sku":"a"},{"sku":"a"}]}`, `{"items":[]}`, `{"items":[1]}`)
	wantLines(t, got,
		`{"id":"1.0","key":"","topic":"IN","meta":{},"payload":{"sku":"a"}}`,
		`{"id":"1.1","key":"","topic":"IN","meta":{},"payload":{"sku":"a"}}`,
		`{"id":"3.0","key":"","topic":"IN","meta":{},"payload":1}`)
}

// Ids beyond int64 are float64s in expressions, but a batch key made of
// one keeps its digits: two ids a float64 cannot tell apart get batches
// of their own.
func TestBatchKeyKeepsTheDigitsOfBigIds(t *testing.T) {
	got := runLines(t, `
version: 1
name: bigkeys
source: {file: {path: "IN"}}
concurrency: 1
stages:
  - batch: {size: 2, timeout: 1h, key: payload.id, reduce: '{"n": len(batch)}'}
sink: {file: {path: "OUT"}}
`, `{"id":18446744073709551616}`, `{"id":18446744073709551617}`)
	wantLines(t, got, `{"n":1}`, `{"n":1}`)
}
