package main_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// runOne runs a stdin -> map -> stdout flow with a dead letter file on
// one message and returns stdout and the dead letter's error meta.
func runOne(t *testing.T, expression, message string) (string, string) {
	t.Helper()
	dead := filepath.Join(t.TempDir(), "dead.jsonl")
	flow := write(t, "f.yaml", "version: 1\nname: bounded\nsource: {stdin: {}}\nstages:\n  - map: '"+expression+
		"'\nsink: {stdout: {}}\ndead_letter: {file: {path: "+strconv.Quote(dead)+", envelope: true}}\n")
	cmd := exec.Command(binary, "run", "--http-addr", "", flow)
	cmd.Stdin = strings.NewReader(message + "\n")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil && exitCode(err) != 1 {
		t.Fatalf("run: %v\n%s", err, stderr.Bytes())
	}
	raw, err := os.ReadFile(dead)
	if err != nil {
		t.Fatalf("dead letter: %v\n%s", err, stderr.Bytes())
	}
	var envelope struct {
		Meta map[string]string `json:"meta"`
	}
	if err := json.Unmarshal(raw, &envelope); err != nil {
		t.Fatalf("dead letter %q: %v", raw, err)
	}
	return string(out), envelope.Meta["error"]
}

// This expression took the process down with "fatal error: out of
// memory": string bytes were not counted.
func TestStringDoublingGoesToTheDeadLetter(t *testing.T) {
	out, reason := runOne(t, `len(reduce(1..31, #acc + #acc, "x"))`, `{"id":1}`)
	if out != "" || !strings.Contains(reason, "string budget exceeded: an evaluation may build at most 16 MiB of strings") {
		t.Fatalf("stdout %q, dead letter reason %q", out, reason)
	}
}

// A quadratic loop over 20,000 items (4e8 iterations) ran until the drain
// timeout; the time budget fails that message instead.
func TestQuadraticLoopGoesToTheDeadLetter(t *testing.T) {
	xs := make([]string, 20000)
	for i := range xs {
		xs[i] = strconv.Itoa(i)
	}
	out, reason := runOne(t, `len(filter(payload.xs, {any(payload.xs, {# == -1})}))`, `{"xs":[`+strings.Join(xs, ",")+`]}`)
	if out != "" || !strings.Contains(reason, "time budget exceeded: an evaluation may run at most 1s") {
		t.Fatalf("stdout %q, dead letter reason %q", out, reason)
	}
}

// `-` a million times overflowed the Go stack inside expr's parser.
func TestValidateRefusesADeepExpression(t *testing.T) {
	flow := write(t, "deep.yaml", "version: 1\nname: deep\nsource: {stdin: {}}\nstages:\n  - map: '"+
		strings.Repeat("-", 1_000_000)+"1'\nsink: {stdout: {}}\n")
	out, err := exec.Command(binary, "validate", flow).Output()
	if exitCode(err) != 1 || !strings.Contains(string(out), "deep.yaml:5:11: stages[0].map: expression is 1000001 bytes, over the limit of 65536") {
		t.Fatalf("validate: %v\n%.500s", err, out)
	}
}

// 300k broken stages printed 266,671 problems; validate shows the first
// 100 and counts the rest, in text and in JSON.
func TestValidateShowsTheFirstHundredProblems(t *testing.T) {
	flow := write(t, "many.yaml", "version: 1\nname: many\nsource: {stdin: {}}\nstages:\n"+
		strings.Repeat("  - fliter: payload.x\n", 150)+"sink: {stdout: {}}\n")
	out, err := exec.Command(binary, "validate", flow).Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if exitCode(err) != 1 || len(lines) != 101 || lines[100] != "50 more problem(s) not shown; fix the ones above first" {
		t.Fatalf("exit %d, %d lines, last %q", exitCode(err), len(lines), lines[len(lines)-1])
	}
	out, err = exec.Command(binary, "validate", "--format", "json", flow).Output()
	var ds []struct{ Message string }
	if exitCode(err) != 1 || json.Unmarshal(out, &ds) != nil || len(ds) != 101 || ds[100].Message != lines[100] {
		t.Fatalf("json: exit %d, %d entries\n%.300s", exitCode(err), len(ds), out)
	}
}

// A 40,000-character expression printed its whole line in the snippet.
func TestValidateCutsLongSnippetLines(t *testing.T) {
	terms := make([]string, 3000)
	for i := range terms {
		terms[i] = "payload.a" + strconv.Itoa(i)
	}
	flow := write(t, "wide.yaml", "version: 1\nname: wide\nsource: {stdin: {}}\nstages:\n  - map: '"+
		strings.Join(terms, " + ")+" + paylod.x'\nsink: {stdout: {}}\n")
	out, err := exec.Command(binary, "validate", flow).Output()
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if exitCode(err) != 1 || len(lines) != 3 {
		t.Fatalf("exit %d:\n%.1000s", exitCode(err), out)
	}
	for _, l := range lines[1:] {
		if n := len([]rune(l)); n > 130 {
			t.Errorf("snippet line of %d characters: %.200s", n, l)
		}
	}
}
