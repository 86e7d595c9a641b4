package cli_test

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/flowrun/flowrun/cli"
)

// A secret read with ${file:} (a password field, and the password of a
// URL) never appears in what validate, validate --format json,
// validate --connect, graph or run print, even when connections fail.
func TestSecretsAreNeverPrinted(t *testing.T) {
	const pw, token, urlPW = `pa"ss-1234-secret`, "tok-5678-secret", "urlpw-9012-secret"
	dir := t.TempDir()
	for name, v := range map[string]string{"pw": pw, "token": token, "urlpw": urlPW} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(v+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	flow := writeFlow(t, fmt.Sprintf(`version: 1
name: secrets
source:
  nats: {url: "nats://alice:${file:%[1]s/urlpw}@%[2]s", subject: in, stream: S, user: alice, password: "${file:%[1]s/pw}", connect_timeout: 1s}
sink:
  http: {url: "http://bob:${file:%[1]s/urlpw}@%[3]s/", bearer_token: "${file:%[1]s/token}", retry_for: 0s}
dead_letter:
  http: {url: "http://%[3]s/${file:%[1]s/token}", bearer_token: "${file:%[1]s/token}", retry_for: 0s}
`, dir, closedPort(t), closedPort(t)))
	runs := [][]string{
		{"validate", flow},
		{"validate", "--format", "json", flow},
		{"validate", "--connect", flow},
		{"validate", "--connect", "--format", "json", flow},
		{"graph", flow},
		{"graph", "--format", "dot", flow},
		{"run", "--http-addr", "", flow},
		{"run", "--http-addr", "", "--log-format", "json", flow},
	}
	for _, args := range runs {
		var out, errOut bytes.Buffer
		code := cli.Main(args, cli.IO{Stdin: strings.NewReader(""), Stdout: &out, Stderr: &errOut})
		all := out.String() + errOut.String()
		for _, secret := range []string{pw, `pa\"ss-1234-secret`, token, urlPW} {
			if strings.Contains(all, secret) {
				t.Errorf("%v (exit %d) printed the secret %q:\n%s", args, code, secret, all)
			}
		}
		if args[0] == "validate" && len(args) > 2 && args[1] == "--connect" && !strings.Contains(all, "[redacted]") {
			t.Errorf("%v: want the failing connection reported with its password masked:\n%s", args, all)
		}
	}
}
