// Command gen writes schema/flow.schema.json from the registry, with
// every built-in connector, stage and middleware registered. It is run
// by `go generate ./schema` (or `make schema`), from the schema folder.
package main

import (
	"flag"
	"fmt"
	"os"

	_ "github.com/flowrun/flowrun/connectors/all"
	_ "github.com/flowrun/flowrun/middleware"
	"github.com/flowrun/flowrun/schema"
	_ "github.com/flowrun/flowrun/stages"
)

func main() {
	out := flag.String("o", "flow.schema.json", "the file to write")
	flag.Parse()
	b, err := schema.Generate()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if err := os.WriteFile(*out, b, 0o644); err != nil {
		fmt.Fprintln(os.Stderr, "gen:", err)
		os.Exit(1)
	}
}
