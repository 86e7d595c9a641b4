// Command flowrun validates and runs flow files. All logic lives in
// package cli; registrations come from the blank imports.
package main

import (
	"os"

	"github.com/flowrun/flowrun/cli"
	_ "github.com/flowrun/flowrun/connectors/all"
	_ "github.com/flowrun/flowrun/middleware"
	_ "github.com/flowrun/flowrun/stages"
)

func main() {
	os.Exit(cli.Main(os.Args[1:], cli.IO{Stdin: os.Stdin, Stdout: os.Stdout, Stderr: os.Stderr}))
}
