// Package cli implements the flowrun commands; cmd/flowrun only calls Main.
package cli

import (
	"fmt"
	"io"
	"strings"

	"github.com/flowrun/flowrun/diag"
)

// IO is where a command reads and writes.
type IO struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
}

// Exit codes.
const (
	ExitOK      = 0
	ExitFailure = 1 // invalid flow, fatal run error
	ExitUsage   = 2
)

type command struct {
	name, args, summary string
	run                 func(args []string, io IO) int
}

func commands() []command {
	return []command{
		{"validate", "[--format text|json] [--connect] FILE...", "check flow files (and NAME.test.yaml test files): every problem as file:line:col: path: message", validate},
		{"run", "[flags] FILE|DIR...", "run flows until their sources end or SIGTERM/SIGINT; several in one process, --watch reloads", run},
		{"graph", "[--format mermaid|dot] FILE", "print the compiled graph: each sink with its target, each routed edge with its condition", graph},
		{"test", testUsage, "run the tests of flows (NAME.test.yaml) on in-memory connectors", testCmd},
		{"eval", evalUsage, "evaluate an expression on JSON payloads from stdin or --payload", evalCmd},
		{"schema", "", "print the JSON Schema of flow files", schemaCmd},
		{"version", "", "print version and build info", version},
	}
}

// extra commands registered by other files (e.g. broker).
var extra []command

func allCommands() []command { return append(commands(), extra...) }

func lookupCommand(name string) (command, bool) {
	for _, c := range allCommands() {
		if c.name == name {
			return c, true
		}
	}
	return command{}, false
}

// Main runs flowrun with args (without the program name) and returns the exit code.
func Main(args []string, io IO) int {
	if len(args) == 0 {
		usage(io.Stderr)
		return ExitUsage
	}
	switch args[0] {
	case "-h", "-help", "--help":
		usage(io.Stdout)
		return ExitOK
	case "-version", "--version":
		return version(nil, io)
	case "help":
		return help(args[1:], io)
	}
	if c, ok := lookupCommand(args[0]); ok {
		return c.run(args[1:], io)
	}
	return unknownCommand(args[0], io)
}

// help is `flowrun help [COMMAND]`.
func help(args []string, io IO) int {
	if len(args) == 0 {
		usage(io.Stdout)
		return ExitOK
	}
	c, ok := lookupCommand(args[0])
	if !ok {
		return unknownCommand(args[0], io)
	}
	return c.run([]string{"-h"}, io)
}

func unknownCommand(name string, io IO) int {
	what, names := "command", []string{}
	for _, c := range allCommands() {
		names = append(names, c.name)
	}
	if strings.HasPrefix(name, "-") {
		what, names = "flag", []string{"--help", "--version"}
	}
	hint := ""
	if s := diag.Suggest(name, names); s != "" {
		hint = fmt.Sprintf("; did you mean %q?", s)
	}
	fmt.Fprintf(io.Stderr, "flowrun: unknown %s %q%s\nRun 'flowrun help' for the commands.\n", what, name, hint)
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "flowrun: a declarative stream processor\n\nUsage:")
	for _, c := range allCommands() {
		fmt.Fprintf(w, "  %s\n      %s\n", strings.TrimSpace("flowrun "+c.name+" "+c.args), c.summary)
	}
	fmt.Fprintln(w, "\nRun 'flowrun help COMMAND' or 'flowrun COMMAND -h' for a command's flags; 'flowrun --version' for the version.")
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return true
		}
	}
	return false
}
