package examples_test

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The flow deploy/kubernetes runs validates, as the pod would see it: its
// secrets (mounted at /run/secrets/flowrun there) are files in a temp dir
// here, KAFKA_BROKERS is set as the ConfigMap sets it.
func TestKubernetesFlowValidates(t *testing.T) {
	data, err := os.ReadFile("../deploy/kubernetes/flow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	secrets := t.TempDir()
	for name, value := range map[string]string{"kafka-user": "flowrun\n", "kafka-password": "s3cret\n"} {
		if err := os.WriteFile(filepath.Join(secrets, name), []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	flow := strings.ReplaceAll(string(data), "/run/secrets/flowrun/", secrets+"/")
	if flow == string(data) {
		t.Fatal("flow.yaml reads no secret from /run/secrets/flowrun/")
	}
	path := filepath.Join(t.TempDir(), "flow.yaml")
	if err := os.WriteFile(path, []byte(flow), 0o600); err != nil {
		t.Fatal(err)
	}
	out, err := validate(path)
	if err != nil || !strings.Contains(out, ": ok") {
		t.Fatalf("flowrun validate deploy/kubernetes/flow.yaml: %v\n%s", err, out)
	}
	if strings.Contains(out, "s3cret") {
		t.Fatalf("validate printed the password:\n%s", out)
	}
}

func validate(path string) (string, error) {
	cmd := exec.Command(binary, "validate", path)
	cmd.Env = append(os.Environ(), "KAFKA_BROKERS=kafka-bootstrap.kafka.svc:9093")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}
