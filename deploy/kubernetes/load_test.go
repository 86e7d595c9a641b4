package kubernetes

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"sigs.k8s.io/yaml"
)

// topicPartitions is the partition count of payments.created, the topic
// flow.yaml reads; the autoscalers must not go above it.
const topicPartitions = 8

// notManifests are the YAML files here that are not Kubernetes objects.
var notManifests = []string{"flow.yaml"}

// manifests is every object of this directory, decoded strictly.
type manifests struct {
	kustomization *kustomization
	deployment    *appsv1.Deployment
	secret        *corev1.Secret
	service       *corev1.Service
	pdb           *policyv1.PodDisruptionBudget
	scaledObject  *scaledObject
	hpa           *autoscalingv2.HorizontalPodAutoscaler
	flowName      string
	flowText      string
}

func manifestFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.yaml")
	if err != nil {
		t.Fatal(err)
	}
	files = slices.DeleteFunc(files, func(f string) bool { return slices.Contains(notManifests, f) })
	if len(files) < 7 {
		t.Fatalf("only %d manifests here: %v", len(files), files)
	}
	return files
}

func load(t *testing.T) manifests {
	t.Helper()
	var m manifests
	for _, f := range manifestFiles(t) {
		obj, err := decodeFile(f)
		if err != nil {
			t.Fatal(err)
		}
		switch o := obj.(type) {
		case *kustomization:
			m.kustomization = o
		case *appsv1.Deployment:
			m.deployment = o
		case *corev1.Secret:
			m.secret = o
		case *corev1.Service:
			m.service = o
		case *policyv1.PodDisruptionBudget:
			m.pdb = o
		case *scaledObject:
			m.scaledObject = o
		case *autoscalingv2.HorizontalPodAutoscaler:
			m.hpa = o
		default:
			t.Fatalf("%s: %T is not checked by these tests", f, obj)
		}
	}
	if m.kustomization == nil || m.deployment == nil || m.secret == nil || m.service == nil ||
		m.pdb == nil || m.scaledObject == nil || m.hpa == nil {
		t.Fatalf("a manifest is missing: %+v", m)
	}
	if n := len(m.deployment.Spec.Template.Spec.Containers); n != 1 {
		t.Fatalf("the Deployment has %d containers, want 1", n)
	}
	data, err := os.ReadFile("flow.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var flow struct {
		Name string `json:"name"`
	}
	if err := yaml.Unmarshal(data, &flow); err != nil || flow.Name == "" {
		t.Fatalf("flow.yaml: no flow name (%v)", err)
	}
	m.flowName, m.flowText = flow.Name, withoutCommentLines(string(data))
	return m
}

// withoutCommentLines drops the lines that are only a comment, so that
// ${...} written in prose is not taken for a reference.
func withoutCommentLines(s string) string {
	lines := strings.Split(s, "\n")
	return strings.Join(slices.DeleteFunc(lines, func(l string) bool {
		return strings.HasPrefix(strings.TrimSpace(l), "#")
	}), "\n")
}

func (m manifests) container() corev1.Container {
	return m.deployment.Spec.Template.Spec.Containers[0]
}

var (
	fileRefs = regexp.MustCompile(`\$\{file:([^}]+)\}`)
	// ${NAME} or ${NAME:-default}; a default makes the variable optional.
	envRefs = regexp.MustCompile(`\$\{([A-Za-z_][A-Za-z0-9_]*)(\}|:-)`)
)
