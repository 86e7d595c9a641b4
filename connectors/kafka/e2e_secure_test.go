package kafka_test

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/flowrun/flowrun/connectors/internal/testcert"
	"github.com/flowrun/flowrun/internal/poll"
)

func needKcat(t *testing.T) {
	t.Helper()
	if _, err := exec.LookPath("kcat"); err != nil {
		if os.Getenv("FLOWRUN_REQUIRE_KCAT") != "" {
			t.Fatal("kcat is not installed but FLOWRUN_REQUIRE_KCAT is set (.ci/run installs it): apt-get install kcat")
		}
		t.Skip("kcat is not installed (apt-get install kcat); .ci/run installs it and makes this test required")
	}
}

// kcat (librdkafka, over TLS with the test CA) produces into a TLS-only
// `flowrun broker`, a flow reads and writes over TLS, and kcat consumes
// every message. kcat cannot use SASL against the in-process broker
// (docs/kafka.md says why), so SASL is covered by TestFlowOverTLSAndSCRAM.
func TestE2EKcatOverTLS(t *testing.T) {
	needKcat(t)
	certs := testcert.New(t, testcert.Options{})
	addr := freeAddr(t)
	brk := startProc(t, "flowrun broker", addr, "broker", "--addr", addr, "--partitions", "2", "--tls-cert", certs.Cert, "--tls-key", certs.Key)
	poll.Until(t, "broker listening", 20*time.Second, func() bool { return strings.Contains(brk.out.String(), "listening on "+addr) })
	ssl := []string{"-b", addr, "-X", "security.protocol=SSL", "-X", "ssl.ca.location=" + certs.CA}

	const n = 50
	var in strings.Builder
	for i := range n {
		fmt.Fprintf(&in, "k%d:{\"n\":%d}\n", i%4, i)
	}
	kcat(t, in.String(), append(ssl, "-P", "-t", "tls.in", "-K:")...)
	p := runFlow(t, "flowrun", addr, writeFlow(t, fmt.Sprintf(`
version: 1
name: kcat-tls
source:
  kafka: {brokers: ["${KAFKA_BROKERS}"], topic: tls.in, tls: {ca_file: %[1]q}}
stages:
  - set: {double: payload.n * 2}
sink:
  kafka: {brokers: ["${KAFKA_BROKERS}"], topic: tls.out, tls: {ca_file: %[1]q}}
`, certs.CA)))
	var lines []string
	poll.Until(t, "kcat reads every message over TLS", 60*time.Second, func() bool {
		out, err := kcatTry("", append(ssl, "-C", "-t", "tls.out", "-o", "beginning", "-e", "-q", "-f", "%k|%s\n")...)
		lines = strings.Split(strings.TrimSpace(out), "\n")
		return err == nil && len(lines) >= n
	})
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf(`k%d|{"n":%d,"double":%d}`, i%4, i, 2*i)) // set adds double after the fields as they came
	}
	slices.Sort(lines)
	slices.Sort(want)
	if !slices.Equal(lines, want) {
		t.Fatalf("kcat read\n%v\nwant exactly\n%v", lines, want)
	}
	if code := p.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("flowrun run exit %d", code)
	}
	if code := brk.stop(t, syscall.SIGTERM); code != 0 {
		t.Fatalf("flowrun broker exit %d", code)
	}
}

// `flowrun broker --tls-cert --tls-key --sasl` and `flowrun validate
// --connect`: the right password passes, a wrong one and a wrong CA each
// get their own error, and no password is printed.
func TestE2EValidateConnectSecured(t *testing.T) {
	certs := testcert.New(t, testcert.Options{})
	other := testcert.New(t, testcert.Options{})
	addr := freeAddr(t)
	const right, wrong = "right-pw-4821", "wrong-pw-9377"
	brk := startProc(t, "flowrun broker", addr, "broker", "--addr", addr, "--tls-cert", certs.Cert, "--tls-key", certs.Key,
		"--sasl", "SCRAM-SHA-256:alice:"+right, "--sasl", "PLAIN:bob:"+right)
	poll.Until(t, "broker listening", 20*time.Second, func() bool { return strings.Contains(brk.out.String(), "listening on "+addr) })
	dir := t.TempDir()
	for name, pw := range map[string]string{"right": right, "wrong": wrong} {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(pw+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	flow := func(ca, mech, user, pwFile string) string {
		return writeFlow(t, fmt.Sprintf(`
version: 1
name: secured
source: {generate: {count: 1, payload: counter}}
sink:
  kafka:
    brokers: ["%s"]
    topic: t
    tls: {ca_file: %q}
    sasl: {mechanism: %s, user: %s, password: "${file:%s}"}
`, addr, ca, mech, user, filepath.Join(dir, pwFile)))
	}
	cases := []struct {
		name, path, want string
		code             int
	}{
		{"right password", flow(certs.CA, "SCRAM-SHA-256", "alice", "right"), ": ok", 0},
		{"right PLAIN password", flow(certs.CA, "PLAIN", "bob", "right"), ": ok", 0},
		{"wrong password", flow(certs.CA, "SCRAM-SHA-256", "alice", "wrong"),
			`cannot connect: authentication failure: broker ` + addr + ` closed the connection while authenticating user "alice" with SASL SCRAM-SHA-256`, 1},
		{"wrong CA", flow(other.CA, "SCRAM-SHA-256", "alice", "right"),
			"cannot connect: TLS failure: broker " + addr + " has a certificate signed by an authority flowrun does not trust", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			out, err := exec.Command(flowrunBin, "validate", "--connect", tc.path).CombinedOutput()
			code := 0
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			} else if err != nil {
				t.Fatal(err)
			}
			if code != tc.code || !strings.Contains(string(out), tc.want) {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d and %q", code, out, tc.code, tc.want)
			}
			if strings.Contains(string(out), right) || strings.Contains(string(out), wrong) {
				t.Fatalf("a password was printed:\n%s", out)
			}
		})
	}
	if strings.Contains(brk.out.String(), right) {
		t.Fatalf("flowrun broker printed a password:\n%s", brk.out.String())
	}
}
