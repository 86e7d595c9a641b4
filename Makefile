# flowrun: build, run the demo, test, bench, lint.
GO        ?= go
BIN       ?= bin/flowrun
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -s -w -X github.com/flowrun/flowrun/cli.Version=$(VERSION)
STATICCHECK := honnef.co/go/tools/cmd/staticcheck@v0.8.2

.PHONY: build run test test-integration fuzz bench lint schema docker clean

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/flowrun

# Runs a finite example flow on the built-in connectors and prints its summary.
# (A plain build, sharing the go build cache, so it is quick after tests.)
run:
	$(GO) build -o $(BIN) ./cmd/flowrun
	$(BIN) run --http-addr "" examples/flows/demo-payments.yaml

# Everything that needs no server: unit, runtime and in-process Kafka tests
# with the race detector, the schema sync check, the example flows' own
# tests (flowrun test), the Kubernetes manifests (their own module, so
# k8s.io/api stays out of flowrun's), and a short fuzz run.
test:
	$(GO) test -race -count=1 ./...
	$(GO) run ./cmd/flowrun test examples/flows
	cd deploy/kubernetes && $(GO) test -count=1 ./...
	$(MAKE) fuzz FUZZTIME=30000x COMPILE_FUZZTIME=3000x

# Each fuzz target for FUZZTIME: the flow compiler, and the JSON decoder
# and encoder every message goes through. make test gives counts (a few
# seconds each here), not durations: Go 1.26's fuzz coordinator can fail
# a duration run with "context deadline exceeded" on a loaded machine
# (go.dev/issue/75804, fixed in Go 1.27); a count has no deadline.
FUZZTIME ?= 30s
COMPILE_FUZZTIME ?= $(FUZZTIME)
MESSAGE_FUZZ := FuzzDecodeJSON FuzzDecodeFields FuzzAppendJSONRoundTrip FuzzEncodeKeepsBytes
fuzz:
	$(GO) test -run='^$$' -fuzz=FuzzCompile -fuzztime=$(COMPILE_FUZZTIME) -fuzzminimizetime=100x ./compiler/
	for f in $(MESSAGE_FUZZ); do \
		$(GO) test -run='^$$' -fuzz="^$$f\$$" -fuzztime=$(FUZZTIME) -fuzzminimizetime=100x ./message/ || exit 1; \
	done

# The connector conformance suite against the real services on this machine.
test-integration:
	$(GO) test -race -count=1 -tags integration -timeout 20m ./connectors/...

# Go benchmarks of the runtime's pieces, the file workloads W1-W4 with their
# ceiling, Kafka on the in-process broker (and scaling out over a consumer
# group), and each broker connector against the services on this machine.
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./runtime/ ./expression/ ./message/
	$(GO) run ./bench/workload
	$(GO) run ./bench/kafka
	$(GO) run ./bench/scaleout
	$(GO) run ./bench/brokers

lint:
	@test -z "$$(gofmt -l .)" || (gofmt -l . && echo 'run gofmt -w .' && exit 1)
	$(GO) vet ./...
	cd deploy/kubernetes && $(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# schema/flow.schema.json and docs/reference.md, from the specs; tests fail when they are stale.
schema:
	$(GO) generate ./schema

# The image's `flowrun version` says what it was built from.
docker:
	docker build --build-arg VERSION=$(VERSION) -t flowrun:$(VERSION) .

clean:
	rm -rf bin bench/out
