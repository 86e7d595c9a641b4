package dsl

import (
	"errors"
	"fmt"
	stdio "io"
	"io/fs"
	"os"
	"strings"
)

// filePrefix starts a ${file:PATH} reference.
const filePrefix = "file:"

// maxSecretFile bounds what one ${file:} reads: secrets are small, and a
// mistaken path to a large file must not fill memory.
const maxSecretFile = 64 << 10

// readSecretFile returns the content of path without its trailing
// newline (\n or \r\n), as Kubernetes Secrets mounted as files and
// `echo pw > file` both end with one. A relative path is relative to
// the working directory. Errors name the file, never its content.
func readSecretFile(path string) (string, error) {
	if path == "" {
		return "", fmt.Errorf("${file:} needs a path, e.g. ${file:/run/secrets/kafka-password}")
	}
	f, err := os.Open(path)
	if err != nil {
		switch {
		case errors.Is(err, fs.ErrNotExist):
			return "", fmt.Errorf("${file:%s}: no such file; mount the secret there or fix the path", path)
		case errors.Is(err, fs.ErrPermission):
			return "", fmt.Errorf("${file:%s}: permission denied; let the user running flowrun read it", path)
		}
		return "", fmt.Errorf("${file:%s}: %w", path, err)
	}
	defer f.Close()
	b, err := stdio.ReadAll(stdio.LimitReader(f, maxSecretFile+1))
	if err != nil {
		return "", fmt.Errorf("${file:%s}: cannot read it: %w", path, err)
	}
	if len(b) > maxSecretFile {
		return "", fmt.Errorf("${file:%s}: larger than %d KiB, too large for a secret; is it the right file?", path, maxSecretFile>>10)
	}
	s := strings.TrimSuffix(string(b), "\n")
	return strings.TrimSuffix(s, "\r"), nil
}
