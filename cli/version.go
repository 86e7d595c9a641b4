package cli

import (
	"fmt"
	"runtime/debug"
)

// Version is set at build time: -ldflags "-X github.com/flowrun/flowrun/cli.Version=v1.2.3".
var Version = "dev"

func version(args []string, io IO) int {
	fs := newFlags("version", io, "")
	if _, err := fs.parse(args, nil); err != nil {
		return fs.exit(err)
	}
	fmt.Fprintf(io.Stdout, "flowrun %s\n", Version)
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(io.Stdout, "go: %s\n", bi.GoVersion)
		for _, s := range bi.Settings {
			switch s.Key {
			case "vcs.revision", "vcs.time", "vcs.modified", "CGO_ENABLED", "GOOS", "GOARCH":
				fmt.Fprintf(io.Stdout, "%s: %s\n", s.Key, s.Value)
			}
		}
	}
	return ExitOK
}
