package kubernetes

import (
	"os"
	"strings"
	"testing"
)

// A misspelled field must fail, not vanish: kubectl apply would silently
// drop it otherwise (a probe or limit that is never set).
func TestTyposFail(t *testing.T) {
	for _, tc := range []struct {
		file, from, to, want string
	}{
		{"deployment.yaml", "readOnlyRootFilesystem", "readOnlyRootFileSystem", `unknown field "spec.template.spec.containers[0].securityContext.readOnlyRootFileSystem"`},
		{"deployment.yaml", "terminationGracePeriodSeconds", "terminationGracePeriod", `unknown field "spec.template.spec.terminationGracePeriod"`},
		{"deployment.yaml", "livenessProbe", "livenesProbe", `unknown field "spec.template.spec.containers[0].livenesProbe"`},
		{"deployment.yaml", "      containers:", "      containers:\n        - name: x\n      containers:", `key "containers" already set`},
		{"service.yaml", "targetPort", "targetport", `unknown field "spec.ports[0].targetport"`},
		{"pdb.yaml", "maxUnavailable", "maxUnavailble", `unknown field "spec.maxUnavailble"`},
		{"secret.yaml", "stringData", "stringdata", `unknown field "stringdata"`},
		{"hpa.yaml", "averageValue", "averagevalue", `unknown field "spec.metrics[0].external.target.averagevalue"`},
		{"scaledobject.yaml", "  maxReplicaCount:", "  maxReplicasCount:", `unknown field "spec.maxReplicasCount"`},
		{"scaledobject.yaml", "stabilizationWindowSeconds", "stabilizationWindow", `unknown field "spec.advanced.horizontalPodAutoscalerConfig.behavior.scaleDown.stabilizationWindow"`},
		{"kustomization.yaml", "configMapGenerator", "configmapGenerator", `unknown field "configmapGenerator"`},
		{"deployment.yaml", "kind: Deployment", "kind: Deployments", `no Go type for apiVersion "apps/v1" kind "Deployments"`},
	} {
		t.Run(tc.file+"/"+tc.to, func(t *testing.T) {
			data, err := os.ReadFile(tc.file)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(data), tc.from) {
				t.Fatalf("%s has no %q to misspell", tc.file, tc.from)
			}
			_, err = decodeManifest([]byte(strings.Replace(string(data), tc.from, tc.to, 1)))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("decoding %s with %q for %q: got error %v, want one containing %s", tc.file, tc.to, tc.from, err, tc.want)
			}
		})
	}
}
