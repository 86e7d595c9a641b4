package kafka

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/connectors/internal/resend"
	"github.com/flowrun/flowrun/registry"
)

// idempotent: true hands the sink's records to Sarama's idempotent
// AsyncProducer instead of writing batches itself (round). Kafka's
// idempotence needs what round does not keep: a producer id, one
// sequence per partition that a batch keeps across its retries, and no
// later batch of the partition passing one being retried. Sarama's
// producer has that machinery (and bumps the epoch when it gives up on a
// sequence), at the cost of its goroutine hops per message.

// idempotentConfig turns sc into the configuration of Sarama's
// idempotent producer, or tells why the sink's fields forbid it.
func idempotentConfig(sc *sarama.Config, cfg registry.Config) error {
	if err := checkIdempotent(cfg); err != nil {
		return err
	}
	sc.Producer.Idempotent = true
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Net.MaxOpenRequests = 1 // Sarama keeps a partition's order across retries only so
	if !sc.Version.IsAtLeast(sarama.V0_11_0_0) {
		sc.Version = sarama.V0_11_0_0 // produceVersion refused older versions already
	}
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	// The sink picks each record's partition itself (keyHash, as without
	// idempotence); Sarama sends it where msg.Partition says.
	sc.Producer.Partitioner = sarama.NewManualPartitioner
	first, longest := sc.Producer.Retry.Backoff, max(2*time.Second, sc.Producer.Retry.Backoff)
	sc.Producer.Retry.BackoffFunc = func(retries, _ int) time.Duration { return retryWait(first, longest, retries) }
	sc.Producer.Retry.Max = retriesWithin(cfg.Duration("retry_for"), first, longest)
	if cfg.Has("retries") {
		sc.Producer.Retry.Max = min(sc.Producer.Retry.Max, cfg.Int("retries"))
	}
	return nil
}

// checkIdempotent refuses, at validate time, the settings Kafka's
// idempotent producer cannot work with.
func checkIdempotent(cfg registry.Config) error {
	if !cfg.Bool("idempotent") {
		return nil
	}
	if acks := cfg.String("acks"); acks != "" && acks != "all" {
		return registry.At(fmt.Errorf("idempotent: true needs acks: all (Kafka's idempotent producer only numbers batches every replica took), not acks: %s", acks), "acks")
	}
	if cfg.Has("retries") && cfg.Int("retries") == 0 {
		return registry.At(fmt.Errorf("idempotent: true needs retries of at least 1: the producer's own retries are what idempotence makes safe"), "retries")
	}
	if cfg.Has("retry_for") && cfg.Duration("retry_for") <= 0 {
		return registry.At(fmt.Errorf("idempotent: true needs a retry_for above 0: the producer's own retries are what idempotence makes safe"), "retry_for")
	}
	return nil
}

// retryWait is the wait before retry n (from 1): first, doubling, at most longest.
func retryWait(first, longest time.Duration, n int) time.Duration {
	d := first
	for ; n > 1 && d < longest; n-- {
		d *= 2
	}
	return min(d, longest)
}

// retriesWithin is how many retries, waiting retryWait before each, it
// takes for the waits to add up to retryFor (at least 1, which Sarama's
// idempotent producer requires). The time the requests take comes on top.
func retriesWithin(retryFor, first, longest time.Duration) int {
	n, waited := 1, retryWait(first, longest, 1)
	for waited < retryFor && n < 10000 {
		n++
		waited += retryWait(first, longest, n)
	}
	return n
}

// idempotent is the AsyncProducer of one sink and the goroutine that
// hands each of its answers to the write that sent the message.
type idempotent struct {
	producer sarama.AsyncProducer
	done     chan struct{} // closed once both answer channels are closed
}

// ticket travels with a message as its Metadata: whose answer it is.
type ticket struct {
	answers chan<- answer // of the write, buffered for all its messages
	i       int           // index of the message in the write
}

type answer struct {
	i   int
	err error
}

func newIdempotent(client sarama.Client) (*idempotent, error) {
	// It sends InitProducerID, so a broker that cannot do idempotence
	// (before 0.11, or idempotence refused by ACLs) fails here.
	p, err := sarama.NewAsyncProducerFromClient(client)
	if err != nil {
		return nil, fmt.Errorf("idempotent producer: %w", err)
	}
	id := &idempotent{producer: p, done: make(chan struct{})}
	go id.dispatch()
	return id, nil
}

func (id *idempotent) dispatch() {
	defer close(id.done)
	oks, errs := id.producer.Successes(), id.producer.Errors()
	for oks != nil || errs != nil {
		select {
		case m, open := <-oks:
			if !open {
				oks = nil
				continue
			}
			t := m.Metadata.(*ticket)
			t.answers <- answer{i: t.i}
		case e, open := <-errs:
			if !open {
				errs = nil
				continue
			}
			t := e.Msg.Metadata.(*ticket)
			t.answers <- answer{i: t.i, err: e.Err}
		}
	}
}

// close flushes what the producer holds (Sarama waits for every answer)
// and returns once the last answer was handed over.
func (id *idempotent) close() {
	id.producer.AsyncClose()
	<-id.done
}

// writeIdempotent sends the prepared write w through the idempotent
// producer and waits for every answer, keeping the Sink contract: nil
// once all are acknowledged, a *registry.WriteError naming exactly the
// failed ones, permanent failures marked.
func (s *sink) writeIdempotent(ctx context.Context, w *write) error {
	// Partitions are picked before anything is sent: a topic not known
	// yet (topic_expr, created on first use) is looked up again within
	// retry_for, which cannot duplicate anything.
	refresh := false
	_ = s.resend.Send(ctx, w.errs, func(_ context.Context, todo []int) {
		if refresh {
			if err := s.client.RefreshMetadata(w.topicsOf(todo)...); err != nil {
				s.logger.Debug("kafka sink: metadata refresh failed", "error", err)
			}
		}
		for _, i := range todo {
			w.errs[i] = nil
		}
		unknown, err := w.assign(todo)
		for _, i := range unknown {
			w.errs[i] = err
		}
		refresh = len(unknown) > 0
	})
	var todo []int
	headers := 0
	for i, err := range w.errs {
		if err == nil {
			todo = append(todo, i)
			headers += len(w.recs[i].Headers)
		}
	}
	answers := make(chan answer, len(todo))
	msgs := make([]sarama.ProducerMessage, len(todo))
	tickets := make([]ticket, len(todo))
	hs := make([]sarama.RecordHeader, 0, headers)
	queued := 0
queue:
	for k, i := range todo {
		m, r := &msgs[k], &w.recs[i]
		tickets[k] = ticket{answers: answers, i: i}
		*m = sarama.ProducerMessage{Topic: w.topic[i], Partition: w.part[i], Timestamp: w.now, Metadata: &tickets[k]}
		// The record's own bytes: nil stays nil (a null key or value).
		if r.Key != nil {
			m.Key = sarama.ByteEncoder(r.Key)
		}
		if r.Value != nil {
			m.Value = sarama.ByteEncoder(r.Value)
		}
		start := len(hs)
		for _, h := range r.Headers {
			hs = append(hs, *h)
		}
		m.Headers = hs[start:len(hs):len(hs)]
		select {
		case s.idem.producer.Input() <- m:
			queued++
		case <-ctx.Done():
			for _, j := range todo[k:] { // not handed over: not sent
				w.errs[j] = fmt.Errorf("handing over to the producer: %w", ctx.Err())
			}
			break queue
		}
		w.errs[i] = errUnanswered
	}
	// Sarama keeps the order of what it was handed per partition: the
	// next write may be handed over while this one waits.
	registry.Sent(ctx)
	for ; queued > 0; queued-- {
		select {
		case a := <-answers:
			w.errs[a.i] = idempotentOutcome(s.where(topicPartition{w.topic[a.i], w.part[a.i]}), a.err)
		case <-ctx.Done():
			// Answered messages stand; the others may or may not be
			// written: they fail, to be sent again (at least once).
			for _, i := range todo {
				if w.errs[i] == errUnanswered {
					w.errs[i] = fmt.Errorf("waiting for the brokers: %w", ctx.Err())
				}
			}
			return s.resend.Result(w.errs)
		}
	}
	return s.resend.Result(w.errs)
}

// idempotentOutcome is what an answer of Sarama's producer means for the
// write: nil when written; permanent when sending the message again
// cannot help (too large, not authorized, an error Kafka does not retry);
// else an error the flow's retry may try again after Sarama's own retries
// ran out (leader gone, replicas short, the connection lost, the
// producer's sequence lost).
func idempotentOutcome(where string, err error) error {
	if err == nil {
		return nil
	}
	err = fmt.Errorf("%s: %w", where, err)
	var kerr sarama.KError
	var conf sarama.ConfigurationError
	var enc sarama.PacketEncodingError
	switch {
	case errors.As(err, &kerr):
		if retriable(kerr) || lostSequence(kerr) {
			return err
		}
		return resend.Permanent(err)
	case errors.As(err, &conf), errors.As(err, &enc):
		return resend.Permanent(err)
	}
	return err
}

// lostSequence are the errors of a producer whose sequence the broker
// lost track of: not the message's fault (Sarama bumps its epoch after).
func lostSequence(err sarama.KError) bool {
	switch err {
	case sarama.ErrOutOfOrderSequenceNumber, sarama.ErrInvalidProducerEpoch, sarama.ErrUnknownProducerID:
		return true
	}
	return false
}
