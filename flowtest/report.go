package flowtest

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/flowrun/flowrun/diag"
)

// Exit codes of `flowrun test`.
const (
	ExitPassed  = 0
	ExitFailed  = 1 // a test failed (the flow does not do what it expects)
	ExitInvalid = 2 // a test file is invalid
)

// FileReport is the outcome of one test file.
type FileReport struct {
	File    string
	Invalid diag.List // the file itself is wrong; no test ran
	Results []*Result
}

// Report is the outcome of a `flowrun test` run.
type Report struct {
	Files       []*FileReport
	Elapsed     time.Duration
	Interrupted bool // stopped early (Ctrl-C): the tests not run are not listed
}

// Counts returns how many tests passed and failed, and how many files
// or tests were invalid.
func (r *Report) Counts() (passed, failed, invalid int) {
	for _, f := range r.Files {
		if len(f.Invalid) > 0 {
			invalid++
		}
		for _, t := range f.Results {
			switch {
			case t.Invalid:
				invalid++
			case t.Passed():
				passed++
			default:
				failed++
			}
		}
	}
	return
}

// ExitCode is 0 when every test passed, 2 when a test file is invalid,
// else 1.
func (r *Report) ExitCode() int {
	passed, failed, invalid := r.Counts()
	switch {
	case invalid > 0:
		return ExitInvalid
	case failed > 0 || passed == 0 || r.Interrupted:
		return ExitFailed
	}
	return ExitPassed
}

// Find returns the test files of paths: a directory's *.test.yaml files
// (recursively), a test file itself, or the NAME.test.yaml beside a
// flow file NAME.yaml.
func Find(paths []string) ([]string, error) {
	var out []string
	for _, p := range paths {
		st, err := os.Stat(p)
		if err != nil {
			return nil, err
		}
		switch {
		case st.IsDir():
			err := filepath.WalkDir(p, func(path string, d fs.DirEntry, err error) error {
				if err == nil && !d.IsDir() && strings.HasSuffix(path, Suffix) {
					out = append(out, path)
				}
				return err
			})
			if err != nil {
				return nil, err
			}
		case strings.HasSuffix(p, Suffix):
			out = append(out, p)
		default:
			t := strings.TrimSuffix(strings.TrimSuffix(p, ".yaml"), ".yml") + Suffix
			if _, err := os.Stat(t); err != nil {
				return nil, fmt.Errorf("%s has no tests: write them in %s (see docs/testing.md)", p, t)
			}
			out = append(out, t)
		}
	}
	for i := range out {
		out[i] = filepath.Clean(out[i])
	}
	sort.Strings(out)
	return slices.Compact(out), nil // a file given twice (or by its flow and its directory) runs once
}

// Text writes one line per test and, for a failed one, its diagnostics
// (file:line:col of the expectation, and a diff).
func (r *Report) Text(w io.Writer) {
	for _, f := range r.Files {
		if len(f.Invalid) > 0 {
			fmt.Fprintf(w, "INVALID %s\n", f.File)
			writeDiags(w, f.Invalid)
			continue
		}
		for _, t := range f.Results {
			status := "ok  "
			switch {
			case t.Invalid:
				status = "INVALID"
			case !t.Passed():
				status = "FAIL"
			}
			fmt.Fprintf(w, "%s %s: %s (%s)\n", status, t.Test.At.Pos, t.Test.Name, t.Elapsed.Round(time.Millisecond))
			writeDiags(w, t.Failures)
		}
	}
	passed, failed, invalid := r.Counts()
	fmt.Fprintf(w, "%d passed, %d failed", passed, failed)
	if invalid > 0 {
		fmt.Fprintf(w, ", %d invalid", invalid)
	}
	fmt.Fprintf(w, " in %d file(s) (%s)\n", len(r.Files), r.Elapsed.Round(time.Millisecond))
	if r.Interrupted {
		fmt.Fprintln(w, "interrupted: the tests after these did not run")
	}
}

func writeDiags(w io.Writer, ds diag.List) {
	for _, d := range ds {
		for _, line := range strings.Split(d.String(), "\n") {
			fmt.Fprintf(w, "    %s\n", line)
		}
	}
}

type jsonTest struct {
	File     string    `json:"file"`
	Name     string    `json:"name,omitempty"`
	Pos      *diag.Pos `json:"pos,omitempty"`
	Status   string    `json:"status"` // passed, failed, invalid
	Seconds  float64   `json:"seconds"`
	Failures diag.List `json:"failures"`
}

// JSON writes {"tests":[...],"passed":N,"failed":N,"invalid":N}.
func (r *Report) JSON(w io.Writer) error {
	var tests []jsonTest
	for _, f := range r.Files {
		if len(f.Invalid) > 0 {
			tests = append(tests, jsonTest{File: f.File, Status: "invalid", Failures: f.Invalid})
		}
		for _, t := range f.Results {
			status := "passed"
			switch {
			case t.Invalid:
				status = "invalid"
			case !t.Passed():
				status = "failed"
			}
			pos := t.Test.At.Pos
			fails := t.Failures
			if fails == nil {
				fails = diag.List{}
			}
			tests = append(tests, jsonTest{File: f.File, Name: t.Test.Name, Pos: &pos, Status: status,
				Seconds: t.Elapsed.Seconds(), Failures: fails})
		}
	}
	passed, failed, invalid := r.Counts()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(map[string]any{"tests": tests, "passed": passed, "failed": failed, "invalid": invalid,
		"interrupted": r.Interrupted})
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Errors   int          `xml:"errors,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	File      string        `xml:"file,attr,omitempty"`
	Line      int           `xml:"line,attr,omitempty"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Text    string `xml:",cdata"`
}

// JUnit writes JUnit XML: a testsuite per test file, a testcase per
// test; a failed test has a <failure>, an invalid one an <error>.
func (r *Report) JUnit(w io.Writer) error {
	out := junitSuites{Time: seconds(r.Elapsed)}
	for _, f := range r.Files {
		s := junitSuite{Name: f.File}
		var took time.Duration
		if len(f.Invalid) > 0 {
			s.Cases = append(s.Cases, junitCase{Name: "(test file)", Classname: f.File, File: f.File, Time: "0",
				Error: problem(f.Invalid)})
			s.Errors++
		}
		for _, t := range f.Results {
			c := junitCase{Name: t.Test.Name, Classname: strings.TrimSuffix(filepath.Base(f.File), Suffix), File: f.File,
				Line: t.Test.At.Pos.Line, Time: seconds(t.Elapsed)}
			switch {
			case t.Invalid:
				c.Error = problem(t.Failures)
				s.Errors++
			case !t.Passed():
				c.Failure = problem(t.Failures)
				s.Failures++
			}
			took += t.Elapsed
			s.Cases = append(s.Cases, c)
		}
		s.Tests, s.Time = len(s.Cases), seconds(took)
		out.Tests += s.Tests
		out.Failures += s.Failures
		out.Errors += s.Errors
		out.Suites = append(out.Suites, s)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}

func problem(ds diag.List) *junitProblem {
	var lines []string
	for _, d := range ds {
		lines = append(lines, d.String())
	}
	return &junitProblem{Message: firstLine(ds[0].String()), Text: strings.Join(lines, "\n")}
}

func seconds(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }
