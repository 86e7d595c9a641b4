package runtime

import (
	"errors"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the contract's Prometheus metrics. Children (label
// lookups) are resolved once when the pipeline is built, never per message.
type metrics struct {
	edgeMessages  *prometheus.CounterVec
	edgeBuffered  *prometheus.GaugeVec
	edgeCapacity  *prometheus.GaugeVec
	edgeBlocked   *prometheus.CounterVec
	stageDemand   *prometheus.GaugeVec
	inFlightBytes *prometheus.GaugeVec
	stageDuration *durations
	stageErrors   *prometheus.CounterVec
	messages      *prometheus.CounterVec
	batchSize     *prometheus.HistogramVec
	batchEarly    *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) *metrics {
	edge := []string{"flow", "from", "to"}
	stage := []string{"flow", "stage"}
	return &metrics{
		edgeMessages: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowrun_edge_messages_total", Help: "Messages sent over an edge of the flow graph."}, edge)),
		edgeBuffered: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flowrun_edge_buffered", Help: "Messages waiting on an edge."}, edge)),
		edgeCapacity: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flowrun_edge_capacity", Help: "Most messages an edge holds before its sender waits."}, edge)),
		edgeBlocked: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowrun_edge_blocked_seconds_total", Help: "Time the sender waited on a full edge (backpressure)."}, edge)),
		stageDemand: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flowrun_stage_demand", Help: "Open demand: messages a stage has asked for and not yet received."}, stage)),
		inFlightBytes: register(reg, prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "flowrun_in_flight_bytes", Help: "Bytes of the source messages read and not yet acked, nacked or dead-lettered; reading waits while they reach max_in_flight_bytes."},
			[]string{"flow"})),
		stageDuration: register(reg, newDurations("flowrun_stage_duration_seconds",
			"Time a stage spends on one message, timed on one message in 8 (sinks: on one write).", stage,
			[]float64{1e-6, 5e-6, 25e-6, 1e-4, 5e-4, 25e-4, 0.01, 0.05, 0.25, 1, 5})),
		stageErrors: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowrun_stage_errors_total", Help: "Failed attempts of a stage (before retries)."}, stage)),
		messages: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowrun_messages_total", Help: "Source messages by final outcome: acked, filtered, dead_lettered, nacked, discarded (failed for good without a dead letter)."},
			[]string{"flow", "outcome"})),
		batchSize: register(reg, prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "flowrun_batch_size", Help: "Messages per flushed batch.",
			Buckets: prometheus.ExponentialBuckets(1, 2, 14)}, stage)),
		batchEarly: register(reg, prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "flowrun_batch_early_flushes_total", Help: "Batches flushed before size or timeout because max_buffered or max_in_flight_bytes was reached."}, stage)),
	}
}

// register adds c to reg, or returns the collector already registered
// under the same name (several flows in one process share metrics).
func register[C prometheus.Collector](reg prometheus.Registerer, c C) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		panic(err) // a programming error: same name, other labels
	}
	return c
}

// stageMetrics are one stage's cached children.
type stageMetrics struct {
	duration *duration
	errors   prometheus.Counter
}

func (m *metrics) stage(flow, name string) stageMetrics {
	return stageMetrics{
		duration: m.stageDuration.WithLabelValues(flow, name),
		errors:   m.stageErrors.WithLabelValues(flow, name),
	}
}

// outcomes are the cached children of flowrun_messages_total.
type outcomes struct{ acked, nacked, deadLettered, filtered, discarded prometheus.Counter }

func (m *metrics) outcomes(flow string) outcomes {
	return outcomes{
		acked:        m.messages.WithLabelValues(flow, "acked"),
		nacked:       m.messages.WithLabelValues(flow, "nacked"),
		deadLettered: m.messages.WithLabelValues(flow, "dead_lettered"),
		filtered:     m.messages.WithLabelValues(flow, "filtered"),
		discarded:    m.messages.WithLabelValues(flow, "discarded"),
	}
}
