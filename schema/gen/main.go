// Command gen writes schema/flow.schema.json and docs/reference.md from
// the registry, with every built-in connector, stage and middleware
// registered, the CLI's help and the runtime's metrics. It is run by
// `go generate ./schema` (or `make schema`), from the schema folder.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/flowrun/flowrun/cli"
	_ "github.com/flowrun/flowrun/connectors/all"
	_ "github.com/flowrun/flowrun/middleware"
	"github.com/flowrun/flowrun/schema"
	_ "github.com/flowrun/flowrun/stages"
)

func main() {
	out := flag.String("o", "flow.schema.json", "the schema file to write")
	ref := flag.String("reference", "../docs/reference.md", "the reference to write")
	flag.Parse()
	b, err := schema.Generate()
	if err != nil {
		fail(err)
	}
	doc, err := schema.Reference(cli.Helps())
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fail(err)
	}
	if err := os.WriteFile(*ref, doc, 0o644); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gen:", err)
	os.Exit(1)
}
