// Package kubernetes holds only tests: they decode every manifest of this
// directory strictly into the Kubernetes API types, the way the API
// server does (unknown, duplicate or wrongly cased fields fail), and check
// that the pieces fit together (probes, ports, selectors, secret paths,
// the drain timeout, replicas capped at partitions). It is its own Go
// module so that k8s.io/api stays out of flowrun's dependencies; run it
// with `cd deploy/kubernetes && go test ./...` (make test does).
package kubernetes
