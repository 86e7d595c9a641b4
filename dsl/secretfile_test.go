package dsl

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestInterpolateFile(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	pw := write("pw", "s3cret\n")
	crlf := write("crlf", "s3cret\r\n")
	two := write("two", "a\n\n")
	big := write("big", strings.Repeat("x", maxSecretFile+1))
	missing := filepath.Join(dir, "missing")
	env := envOf(map[string]string{"DIR": dir, "USER": "alice"})
	cases := []struct{ name, in, want, err string }{
		{"trailing newline trimmed", "${file:" + pw + "}", "s3cret", ""},
		{"crlf trimmed", "${file:" + crlf + "}", "s3cret", ""},
		{"only the last newline", "${file:" + two + "}", "a\n", ""},
		{"with text and variables", "${USER}:${file:" + pw + "}@host", "alice:s3cret@host", ""},
		{"inside a default", "${MISSING:-${file:" + pw + "}}", "s3cret", ""},
		{"default when missing", "${file:" + missing + ":-fallback}", "fallback", ""},
		{"escaped", "$${file:" + pw + "}", "${file:" + pw + "}", ""},
		{"missing file", "${file:" + missing + "}", "",
			"${file:" + missing + "}: no such file; mount the secret there or fix the path"},
		{"no path", "${file:}", "", "${file:} needs a path, e.g. ${file:/run/secrets/kafka-password}"},
		{"too large", "${file:" + big + "}", "",
			"${file:" + big + "}: larger than 64 KiB, too large for a secret; is it the right file?"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Interpolate(tc.in, env)
			errText := ""
			if err != nil {
				errText = err.Error()
			}
			if got != tc.want || errText != tc.err {
				t.Errorf("Interpolate(%q) = %q, %q; want %q, %q", tc.in, got, errText, tc.want, tc.err)
			}
		})
	}
}

// An unreadable secret file is reported at the flow file's line:col,
// naming the file and never the content of a readable one.
func TestParseFileSecret(t *testing.T) {
	dir := t.TempDir()
	pw := filepath.Join(dir, "pw")
	if err := os.WriteFile(pw, []byte("hunter2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	missing := filepath.Join(dir, "nope")
	src := "version: 1\nname: x\nsource:\n  file: {path: \"${file:" + pw + "}\"}\nsink:\n  file:\n    path: ${file:" + missing + "}\n"
	f, ds := Parse("f.yaml", []byte(src), noEnv)
	wantDiags(t, src, ds, []string{
		"«${file:" + missing + "}»: sink.file.path: ${file:" + missing + "}: no such file; mount the secret there or fix the path",
	})
	if got := f.Source.Config.Get("path").Value; got != "hunter2" {
		t.Errorf("source path %q, want the file's content", got)
	}
}
