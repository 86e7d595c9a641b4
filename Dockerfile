# syntax=docker/dockerfile:1
# A static, non-root flowrun image:
#   docker build -t flowrun .
#   docker run --rm -v $PWD/examples/flows:/flows:ro -p 9464:9464 flowrun run /flows/demo-payments.yaml
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath \
      -ldflags "-s -w -X github.com/flowrun/flowrun/cli.Version=${VERSION}" \
      -o /out/flowrun ./cmd/flowrun

# distroless/static: no shell, no libc, runs as uid 65532.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /out/flowrun /usr/local/bin/flowrun
USER nonroot:nonroot
# Inside a container the probes and /metrics must be reachable from outside.
ENV FLOWRUN_HTTP_ADDR=0.0.0.0:9464 \
    FLOWRUN_LOG_FORMAT=json
EXPOSE 9464
# flowrun handles SIGTERM itself (also as PID 1): it stops reading,
# finishes in-flight messages, flushes batches and exits 0.
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/flowrun"]
CMD ["run", "/etc/flowrun/flow.yaml"]
