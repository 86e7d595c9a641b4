package cli

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"strings"

	"github.com/flowrun/flowrun/schema"
)

func (fs *flagSet) printHelp(w io.Writer) {
	fmt.Fprintf(w, "Usage: %s\n", fs.usageLine())
	if fs.summary != "" {
		fmt.Fprintf(w, "\n%s\n", capitalize(fs.summary)+".")
	}
	var lines []string
	fs.VisitAll(func(f *flag.Flag) {
		arg, usage := flag.UnquoteUsage(f)
		line := "  --" + f.Name
		if arg != "" {
			line += " " + strings.ToUpper(arg)
		}
		line += "\n      " + usage
		if def := f.DefValue; def != "" && def != "false" && def != "0" {
			line += " (default " + def + ")"
		}
		lines = append(lines, line)
	})
	if len(lines) > 0 {
		fmt.Fprintf(w, "\nFlags:\n%s\n", strings.Join(lines, "\n"))
	}
	fmt.Fprint(w, fs.epilog)
}

func capitalize(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// Helps returns what `flowrun --help` prints and every command's help,
// with flag defaults that ignore the environment: the generated reference
// shows them.
func Helps() (string, []schema.Command) {
	docDefaults.Store(true)
	defer docDefaults.Store(false)
	var top bytes.Buffer
	usage(&top)
	var out []schema.Command
	for _, c := range allCommands() {
		var b bytes.Buffer
		c.run([]string{"-h"}, IO{Stdin: strings.NewReader(""), Stdout: &b, Stderr: &b})
		out = append(out, schema.Command{Name: c.name, Help: b.String()})
	}
	return top.String(), out
}
