package kubernetes

import (
	"net"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

func TestEveryManifestDecodesStrictly(t *testing.T) {
	for _, f := range manifestFiles(t) {
		if _, err := decodeFile(f); err != nil {
			t.Error(err)
		}
	}
}

func TestKustomizationAppliesEveryManifest(t *testing.T) {
	m := load(t)
	k := m.kustomization
	for _, r := range k.Resources {
		if _, err := os.Stat(r); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", r, err)
		}
	}
	// hpa.yaml is the alternative to scaledobject.yaml: exactly one is applied.
	if slices.Contains(k.Resources, "hpa.yaml") == slices.Contains(k.Resources, "scaledobject.yaml") {
		t.Errorf("resources %v: list exactly one of scaledobject.yaml and hpa.yaml (two autoscalers fight)", k.Resources)
	}
	for _, f := range manifestFiles(t) {
		if f != "kustomization.yaml" && f != "hpa.yaml" && f != "scaledobject.yaml" && !slices.Contains(k.Resources, f) {
			t.Errorf("%s is not in kustomization.yaml's resources", f)
		}
	}
	if len(k.ConfigMapGenerator) != 1 || !slices.Contains(k.ConfigMapGenerator[0].Files, "flow.yaml") {
		t.Fatalf("configMapGenerator %+v: want one ConfigMap holding flow.yaml", k.ConfigMapGenerator)
	}
	image := m.container().Image
	if !slices.ContainsFunc(k.Images, func(i kustomizeImage) bool { return i.Name == image }) {
		t.Errorf("images %+v do not set the container's image %q", k.Images, image)
	}
}

func TestDeploymentIsLockedDown(t *testing.T) {
	m := load(t)
	pod := m.deployment.Spec.Template.Spec
	c := m.container()
	sc := c.SecurityContext
	switch {
	case pod.SecurityContext == nil || !isTrue(pod.SecurityContext.RunAsNonRoot):
		t.Error("the pod must set runAsNonRoot: true")
	case pod.SecurityContext.SeccompProfile == nil || pod.SecurityContext.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault:
		t.Error("the pod must use the RuntimeDefault seccomp profile")
	case sc == nil || !isTrue(sc.ReadOnlyRootFilesystem):
		t.Error("the container must have a read-only root filesystem")
	case sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation:
		t.Error("the container must set allowPrivilegeEscalation: false")
	case sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) || len(sc.Capabilities.Add) > 0:
		t.Error("the container must drop ALL capabilities and add none")
	case pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken:
		t.Error("flowrun does not use the Kubernetes API: automountServiceAccountToken: false")
	}
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory} {
		if _, ok := c.Resources.Requests[r]; !ok {
			t.Errorf("no %s request", r)
		}
	}
	if _, ok := c.Resources.Limits[corev1.ResourceMemory]; !ok {
		t.Error("no memory limit")
	}
	if m.deployment.Spec.Replicas != nil {
		t.Error("the Deployment sets replicas: kubectl apply would reset what the autoscaler chose")
	}
}

// flowrun drains for --drain-timeout, may then wait abandonAfter (5s, in
// runtime/pipeline.go) for a stuck stage, and closes its connectors: the
// kubelet must not SIGKILL it before that.
func TestGracePeriodCoversTheDrain(t *testing.T) {
	m := load(t)
	drain := 30 * time.Second // cli/run.go's default
	args := m.container().Args
	for i, a := range args {
		v, ok := strings.CutPrefix(a, "--drain-timeout=")
		if a == "--drain-timeout" && i+1 < len(args) {
			v, ok = args[i+1], true
		}
		if ok {
			d, err := time.ParseDuration(v)
			if err != nil {
				t.Fatalf("--drain-timeout %q: %v", v, err)
			}
			drain = d
		}
	}
	grace := m.deployment.Spec.Template.Spec.TerminationGracePeriodSeconds
	if grace == nil {
		t.Fatal("no terminationGracePeriodSeconds (the default 30s is not above the drain)")
	}
	const margin = 10 * time.Second // abandonAfter (5s) + closing connectors
	if g := time.Duration(*grace) * time.Second; g < drain+margin {
		t.Errorf("terminationGracePeriodSeconds %s must be at least --drain-timeout %s + %s", g, drain, margin)
	}
}

func TestProbesAndMetricsUseTheServedPort(t *testing.T) {
	m := load(t)
	c := m.container()
	httpPort := 0
	for _, e := range c.Env {
		if e.Name == "FLOWRUN_HTTP_ADDR" {
			host, port, err := net.SplitHostPort(e.Value)
			if err != nil || host != "0.0.0.0" {
				t.Fatalf("FLOWRUN_HTTP_ADDR %q: want 0.0.0.0:PORT so probes reach it (%v)", e.Value, err)
			}
			httpPort, _ = strconv.Atoi(port)
		}
	}
	if httpPort == 0 {
		t.Fatal("FLOWRUN_HTTP_ADDR is not set: flowrun would serve on loopback, out of the kubelet's reach")
	}
	resolve := func(what string, p intOrString) {
		t.Helper()
		for _, cp := range c.Ports {
			if (p.name != "" && p.name == cp.Name) || (p.name == "" && p.num == cp.ContainerPort) {
				if int(cp.ContainerPort) != httpPort {
					t.Errorf("%s: port %d, but flowrun serves on %d", what, cp.ContainerPort, httpPort)
				}
				return
			}
		}
		t.Errorf("%s: port %+v is not a port of the container", what, p)
	}
	for _, probe := range []struct {
		what string
		p    *corev1.Probe
		path string
	}{{"liveness", c.LivenessProbe, "/healthz"}, {"readiness", c.ReadinessProbe, "/readyz"}} {
		if probe.p == nil || probe.p.HTTPGet == nil {
			t.Errorf("no HTTP %s probe", probe.what)
			continue
		}
		if probe.p.HTTPGet.Path != probe.path {
			t.Errorf("%s probe on %q, want %s", probe.what, probe.p.HTTPGet.Path, probe.path)
		}
		resolve(probe.what+" probe", portOf(probe.p.HTTPGet.Port.StrVal, probe.p.HTTPGet.Port.IntVal))
	}
	if len(m.service.Spec.Ports) != 1 || m.service.Spec.Ports[0].Port != int32(httpPort) {
		t.Errorf("the metrics Service must expose port %d: %+v", httpPort, m.service.Spec.Ports)
	} else {
		tp := m.service.Spec.Ports[0].TargetPort
		resolve("Service targetPort", portOf(tp.StrVal, tp.IntVal))
	}
	ann := m.deployment.Spec.Template.Annotations
	if ann["prometheus.io/port"] != strconv.Itoa(httpPort) || ann["prometheus.io/path"] != "/metrics" {
		t.Errorf("scrape annotations %v do not point at :%d/metrics", ann, httpPort)
	}
}

type intOrString struct {
	name string
	num  int32
}

func portOf(name string, num int32) intOrString { return intOrString{name, num} }

func TestSelectorsMatchThePods(t *testing.T) {
	m := load(t)
	pods := labels.Set(m.deployment.Spec.Template.Labels)
	check := func(what string, sel *metav1.LabelSelector) {
		t.Helper()
		s, err := metav1.LabelSelectorAsSelector(sel)
		if err != nil || s.Empty() || !s.Matches(pods) {
			t.Errorf("%s selector %v does not select the pods (labels %v): %v", what, sel, pods, err)
		}
	}
	check("Deployment", m.deployment.Spec.Selector)
	check("PodDisruptionBudget", m.pdb.Spec.Selector)
	for _, tsc := range m.deployment.Spec.Template.Spec.TopologySpreadConstraints {
		check("topology spread", tsc.LabelSelector)
	}
	if s := labels.SelectorFromSet(m.service.Spec.Selector); len(m.service.Spec.Selector) == 0 || !s.Matches(pods) {
		t.Errorf("Service selector %v does not select the pods (labels %v)", m.service.Spec.Selector, pods)
	}
	if m.pdb.Spec.MaxUnavailable == nil && m.pdb.Spec.MinAvailable == nil {
		t.Error("the PodDisruptionBudget sets neither maxUnavailable nor minAvailable")
	}
}

func TestAutoscalingOnLagIsCappedAtPartitions(t *testing.T) {
	m := load(t)
	so := m.scaledObject.Spec
	if so.ScaleTargetRef.Name != m.deployment.Name {
		t.Errorf("ScaledObject scales %q, not the Deployment %q", so.ScaleTargetRef.Name, m.deployment.Name)
	}
	if so.MaxReplicaCount == nil || *so.MaxReplicaCount != topicPartitions {
		t.Errorf("ScaledObject maxReplicaCount %v, want the partition count %d", so.MaxReplicaCount, topicPartitions)
	}
	if so.MinReplicaCount == nil || *so.MinReplicaCount < 1 {
		t.Error("ScaledObject minReplicaCount must be >= 1: with no pod, nobody reports flowrun_source_lag")
	}
	if len(so.Triggers) != 1 || so.Triggers[0].Type != "prometheus" {
		t.Fatalf("ScaledObject triggers %+v: want one prometheus trigger", so.Triggers)
	}
	md := so.Triggers[0].Metadata
	if q := md["query"]; !strings.HasPrefix(q, "sum(flowrun_source_lag{") || !strings.Contains(q, `flow="`+m.flowName+`"`) {
		t.Errorf("query %q must sum flowrun_source_lag of flow %q", q, m.flowName)
	}
	if md["serverAddress"] == "" || md["threshold"] == "" {
		t.Errorf("prometheus trigger needs serverAddress and threshold: %v", md)
	}

	h := m.hpa.Spec
	if h.ScaleTargetRef.Kind != "Deployment" || h.ScaleTargetRef.Name != m.deployment.Name {
		t.Errorf("HPA scales %+v, not the Deployment %q", h.ScaleTargetRef, m.deployment.Name)
	}
	if h.MaxReplicas != topicPartitions {
		t.Errorf("HPA maxReplicas %d, want the partition count %d", h.MaxReplicas, topicPartitions)
	}
	if h.MinReplicas == nil || *h.MinReplicas < 1 {
		t.Error("HPA minReplicas must be >= 1: with no pod, nobody reports flowrun_source_lag")
	}
	if len(h.Metrics) != 1 || h.Metrics[0].External == nil ||
		h.Metrics[0].External.Metric.Name != "flowrun_source_lag" ||
		h.Metrics[0].External.Metric.Selector.MatchLabels["flow"] != m.flowName {
		t.Errorf("HPA metrics %+v: want the external metric flowrun_source_lag of flow %q", h.Metrics, m.flowName)
	}
}

// Everything the flow reads from outside is there in the pod: the flow
// file where args point, each ${file:PATH} as a key of a mounted Secret,
// each ${VAR} without a default in the container's env.
func TestFlowInputsAreMounted(t *testing.T) {
	m := load(t)
	c := m.container()
	pod := m.deployment.Spec.Template.Spec
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	// mounted returns the volume mounted above path and path's key in it.
	mounted := func(p string) (corev1.Volume, string, bool) {
		for _, vm := range c.VolumeMounts {
			if rel, ok := strings.CutPrefix(p, vm.MountPath+"/"); ok && vm.SubPath == "" && !strings.Contains(rel, "/") {
				if !vm.ReadOnly {
					t.Errorf("%s is mounted writable", vm.MountPath)
				}
				return volumes[vm.Name], rel, true
			}
		}
		return corev1.Volume{}, "", false
	}

	flowPath := c.Args[len(c.Args)-1]
	v, key, ok := mounted(flowPath)
	gen := m.kustomization.ConfigMapGenerator[0]
	if !ok || v.ConfigMap == nil || v.ConfigMap.Name != gen.Name {
		t.Fatalf("the flow %s is not in a mount of the ConfigMap %s", flowPath, gen.Name)
	}
	if !slices.ContainsFunc(v.ConfigMap.Items, func(i corev1.KeyToPath) bool { return i.Key == "flow.yaml" && i.Path == key }) {
		t.Errorf("the ConfigMap volume does not put flow.yaml at %s: %+v", flowPath, v.ConfigMap.Items)
	}

	files := fileRefs.FindAllStringSubmatch(m.flowText, -1)
	if len(files) == 0 {
		t.Fatal("flow.yaml reads no secret with ${file:PATH}")
	}
	for _, f := range files {
		v, key, ok := mounted(path.Clean(f[1]))
		switch {
		case !ok || v.Secret == nil:
			t.Errorf("${file:%s}: no Secret is mounted there", f[1])
		case v.Secret.SecretName != m.secret.Name:
			t.Errorf("${file:%s}: mounts Secret %q, not %q", f[1], v.Secret.SecretName, m.secret.Name)
		case m.secret.StringData[key] == "" && m.secret.Data[key] == nil:
			t.Errorf("${file:%s}: Secret %s has no key %q", f[1], m.secret.Name, key)
		case v.Secret.DefaultMode == nil || *v.Secret.DefaultMode != 0o440:
			t.Errorf("${file:%s}: secret files should be mode 0440 (owner and fsGroup only)", f[1])
		}
	}

	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for _, r := range envRefs.FindAllStringSubmatch(m.flowText, -1) {
		e, ok := env[r[1]]
		if r[2] == "}" && !ok {
			t.Errorf("flow.yaml needs ${%s}, which the container's env does not set", r[1])
		}
		if ref := e.ValueFrom; ref != nil && ref.ConfigMapKeyRef != nil {
			if ref.ConfigMapKeyRef.Name != gen.Name || !slices.ContainsFunc(gen.Literals, func(l string) bool {
				return strings.HasPrefix(l, ref.ConfigMapKeyRef.Key+"=")
			}) {
				t.Errorf("env %s reads %s/%s, which the configMapGenerator does not make", r[1], ref.ConfigMapKeyRef.Name, ref.ConfigMapKeyRef.Key)
			}
		}
	}
}

func isTrue(b *bool) bool { return b != nil && *b }

// GOMEMLIMIT must sit below the memory limit, or the GC starts working
// harder only after the kernel's OOM killer has already struck.
func TestGoMemLimitIsBelowTheMemoryLimit(t *testing.T) {
	m := load(t)
	c := m.container()
	limit := c.Resources.Limits[corev1.ResourceMemory]
	for _, e := range c.Env {
		if e.Name != "GOMEMLIMIT" {
			continue
		}
		// Go writes 450MiB where Kubernetes writes 450Mi.
		q, err := resource.ParseQuantity(strings.TrimSuffix(e.Value, "B"))
		if err != nil {
			t.Fatalf("GOMEMLIMIT %q: %v", e.Value, err)
		}
		if q.Cmp(limit) >= 0 {
			t.Errorf("GOMEMLIMIT %s is not below the memory limit %s", e.Value, limit.String())
		}
		return
	}
	t.Error("no GOMEMLIMIT: the Go GC does not know the pod's memory limit")
}
