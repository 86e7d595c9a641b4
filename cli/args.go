package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync/atomic"

	"github.com/flowrun/flowrun/diag"
)

// flagSet is a command's flags: -h prints its help to stdout (exit 0), a
// wrong flag or argument says why on stderr (exit 2).
type flagSet struct {
	*flag.FlagSet
	name, args, summary string
	epilog              string // ends the help: what the flags cannot say
	io                  IO
}

func newFlags(name string, cio IO, usageArgs string) *flagSet {
	fs := &flagSet{FlagSet: flag.NewFlagSet(name, flag.ContinueOnError), name: name, args: usageArgs, io: cio}
	for _, c := range allCommands() {
		if c.name == name {
			fs.summary = c.summary
		}
	}
	// The flag package would print its own error and usage; exit says it once.
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return fs
}

// usageError is a wrong command line: exit 2, with a hint.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usageErrorf(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

// parse parses flags that may come before or after positional arguments,
// then checks the positional arguments with check (nil: none allowed).
func (fs *flagSet) parse(args []string, check func([]string) error) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, fs.flagError(err)
		}
		args = fs.Args()
		if len(args) == 0 {
			break
		}
		if args[0] == "--" {
			positional = append(positional, args[1:]...)
			break
		}
		positional = append(positional, args[0])
		args = args[1:]
	}
	if check == nil {
		check = noArgs
	}
	return positional, check(positional)
}

// flagError rewords the flag package's errors the way users type flags.
func (fs *flagSet) flagError(err error) error {
	if errors.Is(err, flag.ErrHelp) {
		return err
	}
	msg := err.Error()
	if name, ok := strings.CutPrefix(msg, "flag provided but not defined: -"); ok {
		var known []string
		fs.VisitAll(func(f *flag.Flag) { known = append(known, f.Name) })
		msg = "unknown flag --" + name
		if s := diag.Suggest(name, known); s != "" {
			msg += "; did you mean --" + s + "?"
		}
	} else if name, ok := strings.CutPrefix(msg, "flag needs an argument: -"); ok {
		msg = "flag --" + name + " needs a value"
	}
	return &usageError{msg}
}

// exit ends a command whose command line was not right: help asked for
// prints it to stdout (exit 0); anything else says why (exit 2).
func (fs *flagSet) exit(err error) int {
	if errors.Is(err, flag.ErrHelp) {
		fs.printHelp(fs.io.Stdout)
		return ExitOK
	}
	fmt.Fprintf(fs.io.Stderr, "flowrun %s: %v\nUsage: %s (see 'flowrun %s -h')\n", fs.name, err, fs.usageLine(), fs.name)
	return ExitUsage
}

func (fs *flagSet) usageLine() string {
	return strings.TrimSpace("flowrun " + fs.name + " " + fs.args)
}

func noArgs(args []string) error {
	if len(args) > 0 {
		return usageErrorf("takes no arguments, got %q", strings.Join(args, " "))
	}
	return nil
}

// oneFlowFile is the check of commands that take exactly one flow file.
func oneFlowFile(args []string) error {
	switch len(args) {
	case 0:
		return usageErrorf("no flow file given")
	case 1:
		return flowFiles(args)
	}
	return usageErrorf("takes one flow file, got %d (%s); "+
		"'flowrun validate' checks several files at once", len(args), strings.Join(args, " "))
}

// flowFiles is the check of commands that take one or more flow files.
func flowFiles(args []string) error {
	if len(args) == 0 {
		return usageErrorf("no flow file given")
	}
	for _, a := range args {
		if st, err := os.Stat(a); err == nil && st.IsDir() {
			return usageErrorf("%s is a directory: give a flow file in it (such as %s)", a, exampleFile(a))
		}
	}
	return nil
}

// exampleFile names a .yaml file of dir, for the directory hint.
func exampleFile(dir string) string {
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if !e.IsDir() && (strings.HasSuffix(e.Name(), ".yaml") || strings.HasSuffix(e.Name(), ".yml")) {
			return strings.TrimSuffix(dir, "/") + "/" + e.Name()
		}
	}
	return strings.TrimSuffix(dir, "/") + "/flow.yaml"
}

// docDefaults makes flag defaults ignore the environment, so the
// generated reference does not depend on the machine that wrote it.
var docDefaults atomic.Bool

func envOr(name, def string) string {
	if docDefaults.Load() {
		return def
	}
	if v, ok := os.LookupEnv(name); ok {
		return v
	}
	return def
}
