// Package cli implements the flowrun commands; cmd/flowrun only calls Main.
package cli

import (
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
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
		{"validate", "[--format text|json] [--connect] FILE...", "check flow files: every problem as file:line:col: path: message", validate},
		{"run", "[flags] FILE", "run a flow until its source ends or SIGTERM/SIGINT", run},
		{"graph", "[--format mermaid|dot] FILE", "print the compiled graph", graph},
		{"schema", "", "print the JSON Schema of flow files", schemaCmd},
		{"version", "", "print version and build info", version},
	}
}

// extra commands registered by other files (e.g. broker).
var extra []command

// Main runs flowrun with args (without the program name) and returns the exit code.
func Main(args []string, io IO) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "--help" || args[0] == "help" {
		usage(io.Stderr)
		if len(args) == 0 {
			return ExitUsage
		}
		return ExitOK
	}
	for _, c := range append(commands(), extra...) {
		if c.name == args[0] {
			return c.run(args[1:], io)
		}
	}
	fmt.Fprintf(io.Stderr, "flowrun: unknown command %q\n\n", args[0])
	usage(io.Stderr)
	return ExitUsage
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "flowrun: a declarative stream processor\n\nUsage:")
	for _, c := range append(commands(), extra...) {
		fmt.Fprintf(w, "  flowrun %s %s\n      %s\n", c.name, c.args, c.summary)
	}
	fmt.Fprintln(w, "\nRun 'flowrun COMMAND -h' for a command's flags.")
}

// parse parses flags that may come before or after positional arguments.
func parse(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return positional, nil
		}
		if args[0] == "--" {
			return append(positional, args[1:]...), nil
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
}

func newFlags(name string, io IO, usageArgs string) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(io.Stderr, "Usage: flowrun %s %s\n", name, usageArgs)
		fs.PrintDefaults()
	}
	return fs
}

func envOr(name, def string) string {
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}

func oneOf(v string, allowed ...string) bool {
	for _, a := range allowed {
		if strings.EqualFold(v, a) {
			return true
		}
	}
	return false
}
