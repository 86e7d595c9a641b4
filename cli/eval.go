package cli

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"strings"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/flowtest"
)

const evalUsage = "[--payload JSON] [--scope message|reduce] [--key K] [--meta NAME=VALUE]... [--batch-key JSON] [--raw] EXPR"

// evalCmd is `flowrun eval`: a thin wrapper over flowtest.Eval.
func evalCmd(args []string, io IO) int {
	fs := newFlags("eval", io, evalUsage)
	fs.epilog = evalEpilog
	payload := fs.String("payload", "", "evaluate on this `JSON` payload instead of stdin's lines")
	scope := fs.String("scope", "message", "message (payload, meta, key, topic, id) or reduce (batch: the payloads, batch_key)")
	key := fs.String("key", "", "the message key (message scope)")
	topic := fs.String("topic", "", "the message topic (message scope)")
	id := fs.String("id", "", "the message id (message scope)")
	batchKey := fs.String("batch-key", "", "batch_key as `JSON` (reduce scope; default null)")
	raw := fs.Bool("raw", false, "print a string result as it is, not as a JSON string")
	meta := map[string]string{}
	fs.Func("meta", "a metadata entry `NAME=VALUE` (message scope); repeat for more", func(v string) error {
		k, val, ok := strings.Cut(v, "=")
		if !ok || k == "" {
			return fmt.Errorf("want NAME=VALUE, got %q", v)
		}
		meta[k] = val
		return nil
	})
	exprs, err := fs.parse(args, func(a []string) error {
		if len(a) != 1 {
			return usageErrorf("give one expression (quote it), got %d arguments", len(a))
		}
		return nil
	})
	if err == nil && !oneOf(*scope, "message", "reduce") {
		err = usageErrorf("--scope must be message or reduce, not %q", *scope)
	}
	if err == nil {
		err = scopeFlags(fs, *scope)
	}
	if err != nil {
		return fs.exit(err)
	}
	opts := flowtest.EvalOptions{Scope: expression.MessageScope, Key: *key, Topic: *topic, ID: *id, Meta: meta, Raw: *raw}
	if *scope == "reduce" {
		opts.Scope = expression.ReduceScope
	}
	if *batchKey != "" {
		opts.BatchKey = []byte(*batchKey)
	}
	p, ds := flowtest.CompileEval(exprs[0], opts.Scope)
	if p == nil {
		for _, d := range ds {
			fmt.Fprintln(io.Stderr, d.String())
		}
		return ExitUsage
	}
	in := io.Stdin
	if *payload != "" {
		var one bytes.Buffer // one document, even written over several lines
		if err := json.Compact(&one, []byte(*payload)); err != nil {
			fmt.Fprintln(io.Stderr, "flowrun eval: --payload:", err)
			return ExitFailure
		}
		in = &one
	}
	failed, err := flowtest.Eval(p, in, io.Stdout, io.Stderr, opts)
	if err != nil {
		fmt.Fprintln(io.Stderr, "flowrun eval:", err)
		return ExitFailure
	}
	if failed > 0 {
		return ExitFailure
	}
	return ExitOK
}

// scopeFlags rejects a flag the scope has no name for: it would be
// silently ignored.
func scopeFlags(fs *flagSet, scope string) error {
	only := map[string]string{"batch-key": "reduce", "key": "message", "topic": "message", "id": "message", "meta": "message"}
	var err error
	fs.Visit(func(f *flag.Flag) {
		if s, ok := only[f.Name]; ok && s != scope && err == nil {
			err = usageErrorf("--%s is for --scope %s: the %s scope has no such name", f.Name, s, scope)
		}
	})
	return err
}

const evalEpilog = `
The expression has the names, functions and type checks of a flow's
(see docs/reference.md#expressions). Each stdin line is one JSON payload
and gives one result line; with --scope reduce, the lines are the batch
and give one result. Numbers the payload carries keep their digits.

Exit codes:
  0  every evaluation succeeded
  1  an input line is not JSON, or the expression failed on one
  2  the expression does not compile (shown with a caret), or wrong usage
`
