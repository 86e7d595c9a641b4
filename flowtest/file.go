// Package flowtest runs a flow's tests (`flowrun test`): messages given
// in a test file go through the flow's real compiled graph (stages,
// middleware, batching, acks) with its source and sinks replaced by
// in-memory ones and batch timeouts on a virtual clock, and what comes
// out is compared with what the file expects. It also evaluates one
// expression on payloads (`flowrun eval`).
package flowtest

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/flowrun/flowrun/diag"
	"github.com/flowrun/flowrun/dsl"
)

// Suffix names a test file: the tests of NAME.yaml are in NAME.test.yaml.
const Suffix = ".test.yaml"

// Suite is one test file: the tests of one flow.
type Suite struct {
	File  string // the test file
	Flow  string // the flow file it tests
	Env   map[string]string
	Tests []*Test
}

// Test is one test: messages in, what must come out.
type Test struct {
	Name   string
	At     *dsl.Node
	Index  int
	Env    map[string]string // the suite's, overridden by the test's
	Input  []*Input
	Expect Expect
}

// Input is one message (inline, or a whole file), the lines of a file
// (one message each), or a wait on the virtual clock.
type Input struct {
	At      *dsl.Node
	Payload *dsl.Node // nil when Raw or File is given
	Raw     *string
	File    string // resolved path; each line one message
	RawFile string // resolved path; the whole file one message
	Key     string
	Topic   string
	ID      string
	Meta    map[string]string
	Wait    time.Duration
	IsWait  bool
}

// Expect is what a test checks; what it leaves out is not checked.
type Expect struct {
	At         *dsl.Node
	Outputs    []*Expected // per sink, in file order
	DeadLetter *Expected   // nil: not checked
	Counts     []Count
	Conditions []*dsl.Node
	Ordered    bool
}

// Expected is the messages a sink (or the dead letter) must receive.
type Expected struct {
	Sink string
	At   *dsl.Node
	Msgs []*ExpMsg
}

// ExpMsg is one expected message; nil fields are not checked.
type ExpMsg struct {
	At         *dsl.Node
	Payload    *dsl.Node
	Raw        *string
	Key        *string
	Meta       map[string]string // nil: not checked
	ErrorStage *string           // dead letter only
	Error      *string           // dead letter only: a substring of the error
}

// Count is an expected count of source messages by outcome.
type Count struct {
	Name string // filtered, nacked, discarded
	At   *dsl.Node
	Want int64
}

var (
	suiteKeys  = []string{"flow", "env", "tests"}
	testKeys   = []string{"name", "env", "input", "expect"}
	inputKeys  = []string{"payload", "raw", "file", "raw_file", "key", "meta", "topic", "id", "wait"}
	expectKeys = []string{"outputs", "dead_letter", "filtered", "nacked", "discarded", "conditions", "ordered"}
	msgKeys    = []string{"payload", "raw", "key", "meta"}
	deadKeys   = []string{"payload", "raw", "key", "meta", "error_stage", "error"}
)

// Load reads a test file. The flow is NAME.yaml (or NAME.yml) beside
// NAME.test.yaml unless the file names one (relative to itself, or
// absolute). The list holds every
// problem of the file; the Suite is nil when there is any.
func Load(file string) (*Suite, diag.List) {
	src, err := os.ReadFile(file)
	if err != nil {
		return nil, diag.List{{Pos: diag.Pos{File: file}, Message: fmt.Sprintf("cannot read test file: %v", err)}}
	}
	root, ds := dsl.ParseDocument(file, src)
	if root == nil || len(ds) > 0 {
		return nil, ds
	}
	p := &parser{dir: filepath.Dir(file)}
	s := p.suite(file, root)
	if len(p.ds) > 0 {
		p.ds.Sort()
		return nil, p.ds
	}
	return s, nil
}

type parser struct {
	dir string
	ds  diag.List
}

// defaultFlow is NAME.yaml beside NAME.test.yaml, or NAME.yml when only
// that exists; both existing is ambiguous.
func (p *parser) defaultFlow(file string, root *dsl.Node) string {
	name := strings.TrimSuffix(file, Suffix)
	_, errYAML := os.Stat(name + ".yaml")
	_, errYML := os.Stat(name + ".yml")
	switch {
	case errYAML != nil && errYML == nil:
		return name + ".yml"
	case errYAML == nil && errYML == nil:
		p.errorf(root, "both %s.yaml and %s.yml exist: say which flow this file tests with flow:", filepath.Base(name), filepath.Base(name))
	}
	return name + ".yaml"
}

// path resolves a path the test file gives: relative to the file, an
// absolute one as it is.
func (p *parser) path(v string) string {
	if filepath.IsAbs(v) {
		return v
	}
	return filepath.Join(p.dir, v)
}

func (p *parser) errorf(n *dsl.Node, format string, args ...any) {
	p.ds.Add(n.Errorf(format, args...))
}

// keys checks that n is a map of only the allowed keys.
func (p *parser) keys(n *dsl.Node, what string, allowed []string) bool {
	if n.Kind != dsl.Map {
		p.errorf(n, "%s must be a map, got %s", what, n.Describe())
		return false
	}
	ok := true
	for _, f := range n.Fields {
		if !contains(allowed, f.Key) {
			p.ds.Add(diag.Diagnostic{Pos: f.KeyAt, Path: f.Value.Path, Message: fmt.Sprintf("unknown key %q%s (known: %s)",
				f.Key, diag.DidYouMean(f.Key, allowed), strings.Join(allowed, ", "))})
			ok = false
		}
	}
	return ok
}

func (p *parser) suite(file string, root *dsl.Node) *Suite {
	s := &Suite{File: file}
	if root.Kind == dsl.Null {
		p.errorf(root, "a test file is a map with tests: a list of tests (see docs/testing.md)")
		return s
	}
	if !p.keys(root, "a test file", suiteKeys) {
		return s
	}
	if n := root.Get("flow"); n != nil {
		if v, ok := p.str(n); ok {
			s.Flow = p.path(v)
		}
	} else {
		s.Flow = p.defaultFlow(file, root)
	}
	s.Env = p.env(root.Get("env"))
	tests := root.Get("tests")
	if tests == nil || tests.Kind != dsl.List || len(tests.Items) == 0 {
		at := root
		if tests != nil {
			at = tests
		}
		p.errorf(at, "tests must be a list of at least one test")
		return s
	}
	names := map[string]bool{}
	for i, n := range tests.Items {
		t := p.test(n, i, s.Env)
		if t == nil {
			continue
		}
		if names[t.Name] {
			p.errorf(n.Get("name"), "two tests are named %q", t.Name)
		}
		names[t.Name] = true
		s.Tests = append(s.Tests, t)
	}
	return s
}

func (p *parser) test(n *dsl.Node, i int, env map[string]string) *Test {
	if !p.keys(n, "a test", testKeys) {
		return nil
	}
	t := &Test{At: n, Index: i, Name: fmt.Sprintf("test %d", i+1), Env: map[string]string{}}
	if v := n.Get("name"); v != nil {
		t.Name, _ = p.str(v)
	}
	for k, v := range env {
		t.Env[k] = v
	}
	for k, v := range p.env(n.Get("env")) {
		t.Env[k] = v
	}
	in := n.Get("input")
	if in == nil || in.Kind != dsl.List {
		p.errorf(n, "input is required: a list of messages (payload:, raw: or file:) and waits")
	} else {
		for _, item := range in.Items {
			if x := p.input(item); x != nil {
				t.Input = append(t.Input, x)
			}
		}
	}
	if e := n.Get("expect"); e == nil {
		p.errorf(n, "expect is required: outputs, dead_letter, counts or conditions")
	} else {
		t.Expect = p.expect(e)
	}
	return t
}

func (p *parser) input(n *dsl.Node) *Input {
	if !p.keys(n, "an input", inputKeys) {
		return nil
	}
	x := &Input{At: n}
	if w := n.Get("wait"); w != nil {
		if len(n.Fields) > 1 {
			p.errorf(n, "wait stands alone: it advances the virtual clock between messages")
		}
		d, err := time.ParseDuration(w.Value)
		if w.Kind != dsl.Scalar || err != nil || d <= 0 {
			p.errorf(w, "wait must be a positive duration such as 500ms or 1h, got %s", w.Describe())
		}
		x.Wait, x.IsWait = d, true
		return x
	}
	given := 0
	if v := n.Get("payload"); v != nil {
		x.Payload = v
		given++
	}
	if v := n.Get("raw"); v != nil {
		s, _ := p.str(v)
		x.Raw = &s
		given++
	}
	if v := n.Get("file"); v != nil {
		s, _ := p.str(v)
		x.File = p.path(s)
		given++
	}
	if v := n.Get("raw_file"); v != nil {
		s, _ := p.str(v)
		x.RawFile = p.path(s)
		given++
	}
	if given != 1 {
		p.errorf(n, "an input gives exactly one of payload, raw, file or raw_file (or is a wait)")
	}
	x.Key, _ = p.optStr(n.Get("key"))
	x.Topic, _ = p.optStr(n.Get("topic"))
	x.ID, _ = p.optStr(n.Get("id"))
	x.Meta = p.strMap(n.Get("meta"), "meta")
	return x
}

func (p *parser) expect(n *dsl.Node) Expect {
	e := Expect{At: n}
	if !p.keys(n, "expect", expectKeys) {
		return e
	}
	if o := n.Get("outputs"); o != nil {
		if o.Kind != dsl.Map {
			p.errorf(o, "outputs must be a map of sink name -> list of messages, got %s", o.Describe())
		}
		for _, f := range o.Fields {
			e.Outputs = append(e.Outputs, p.expected(f.Key, f.Value, msgKeys))
		}
	}
	if d := n.Get("dead_letter"); d != nil {
		e.DeadLetter = p.expected("dead_letter", d, deadKeys)
	}
	for _, name := range []string{"filtered", "nacked", "discarded"} {
		if v := n.Get(name); v != nil {
			c, err := strconv.ParseInt(v.Value, 10, 64)
			if v.Kind != dsl.Scalar || err != nil || c < 0 {
				p.errorf(v, "%s must be a count (0 or more), got %s", name, v.Describe())
			}
			e.Counts = append(e.Counts, Count{Name: name, At: v, Want: c})
		}
	}
	if c := n.Get("conditions"); c != nil {
		if c.Kind != dsl.List {
			p.errorf(c, "conditions must be a list of expressions, each true for every output")
		} else {
			e.Conditions = c.Items
		}
	}
	if n.Kind == dsl.Map && len(e.Outputs) == 0 && e.DeadLetter == nil && len(e.Counts) == 0 && len(e.Conditions) == 0 {
		// A test that checks nothing passes whatever the flow does.
		p.errorf(n, "expect checks nothing: give outputs, dead_letter, a count (filtered, nacked, discarded) or conditions "+
			"(to fill it with --update, start with outputs: {SINK: []})")
	}
	if v := n.Get("ordered"); v != nil {
		b, err := strconv.ParseBool(v.Value)
		if v.Kind != dsl.Scalar || err != nil {
			p.errorf(v, "ordered must be true or false, got %s", v.Describe())
		}
		e.Ordered = b
	}
	return e
}

func (p *parser) expected(sink string, n *dsl.Node, allowed []string) *Expected {
	x := &Expected{Sink: sink, At: n}
	if n.Kind == dsl.Null {
		return x // `sink:` alone: nothing expected
	}
	if n.Kind != dsl.List {
		p.errorf(n, "expected a list of messages, got %s", n.Describe())
		return x
	}
	for _, item := range n.Items {
		if !p.keys(item, "an expected message", allowed) {
			continue
		}
		m := &ExpMsg{At: item, Payload: item.Get("payload")}
		if v := item.Get("raw"); v != nil {
			s, _ := p.str(v)
			m.Raw = &s
		}
		if (m.Payload == nil) == (m.Raw == nil) {
			p.errorf(item, "an expected message gives exactly one of payload or raw")
		}
		m.Key = p.ptr(item.Get("key"))
		m.Meta = p.strMap(item.Get("meta"), "meta")
		m.ErrorStage = p.ptr(item.Get("error_stage"))
		m.Error = p.ptr(item.Get("error"))
		x.Msgs = append(x.Msgs, m)
	}
	return x
}

func (p *parser) str(n *dsl.Node) (string, bool) {
	if n.Kind != dsl.Scalar {
		p.errorf(n, "expected a string, got %s", n.Describe())
		return "", false
	}
	return n.Value, true
}

func (p *parser) optStr(n *dsl.Node) (string, bool) {
	if n == nil {
		return "", false
	}
	return p.str(n)
}

func (p *parser) ptr(n *dsl.Node) *string {
	if s, ok := p.optStr(n); ok {
		return &s
	}
	return nil
}

func (p *parser) strMap(n *dsl.Node, what string) map[string]string {
	if n == nil {
		return nil
	}
	out := map[string]string{}
	if n.Kind == dsl.Null {
		return out
	}
	if n.Kind != dsl.Map {
		p.errorf(n, "%s must be a map of names to strings, got %s", what, n.Describe())
		return out
	}
	for _, f := range n.Fields {
		if f.Value.Kind != dsl.Scalar {
			p.errorf(f.Value, "%s values are strings, got %s", what, f.Value.Describe())
			continue
		}
		out[f.Key] = f.Value.Value
	}
	return out
}

func (p *parser) env(n *dsl.Node) map[string]string { return p.strMap(n, "env") }

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}
