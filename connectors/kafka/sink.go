package kafka

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/IBM/sarama"
	"github.com/cenkalti/backoff/v4"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// Sizes as Sarama's producer reckons them (produce_set.go,
// async_producer.go): a record takes at most recordOverhead bytes besides
// its key and value, a header headerOverhead besides its key and value,
// and a record batch batchOverhead besides its records.
const (
	recordOverhead = 5*binary.MaxVarintLen32 + binary.MaxVarintLen64 + 1
	headerOverhead = 2 * binary.MaxVarintLen32
	batchOverhead  = 49
)

// sink writes each Write call as record batches, one per partition (more
// when max_message_bytes splits one), in one produce request per leader
// broker, sent with Sarama's Broker.AsyncProduce on one sarama.Client.
// Nothing runs between a Write and the connection: no goroutine or
// channel per message, as Sarama's AsyncProducer has (five hops per
// message, most of a Kafka-to-Kafka flow's producer cost). Writes follow
// one another on each broker connection; their responses come back on
// Sarama's receiver goroutine while later writes are sent.
type sink struct {
	topic  string
	logger *slog.Logger
	client sarama.Client

	acks     sarama.RequiredAcks
	timeout  int32 // ms the broker may wait for replicas
	version  int16 // of produce requests
	codec    sarama.CompressionCodec
	level    int
	maxBytes int // of one record batch
	retries  int
	backoff  time.Duration

	keyless atomic.Uint32 // rotates the partition of keyless messages between writes

	failingMu sync.Mutex
	failing   map[int32]bool // partitions whose last batch failed and may be retried

	connMu sync.Mutex
	conns  map[*sarama.Broker]uint64 // each broker connection's generation: bumped when a write closes it

	mu     sync.RWMutex // Write holds it shared to join writes; Close exclusively
	closed bool
	writes sync.WaitGroup // Write calls in progress
}

func newSink(_ context.Context, cfg registry.Config, env registry.Env) (*sink, error) {
	brokers, err := brokerList(cfg)
	if err != nil {
		return nil, err
	}
	sc, err := sinkConfig(cfg)
	if err != nil {
		return nil, err
	}
	topic := cfg.String("topic")
	if topic == "" {
		return nil, fmt.Errorf("topic: no topic to write to")
	}
	version, err := produceVersion(sc.Version)
	if err != nil {
		return nil, fmt.Errorf("version: %w", err)
	}
	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return nil, fmt.Errorf("kafka sink: cannot reach brokers %v: %w", brokers, err)
	}
	s := &sink{
		topic: topic, client: client,
		logger:  env.LoggerOrDiscard().With("topic", topic),
		acks:    sc.Producer.RequiredAcks,
		timeout: int32(sc.Producer.Timeout / time.Millisecond),
		version: version,
		codec:   sc.Producer.Compression, level: sc.Producer.CompressionLevel,
		maxBytes: sc.Producer.MaxMessageBytes,
		retries:  sc.Producer.Retry.Max, backoff: sc.Producer.Retry.Backoff,
	}
	// Replicas of a flow start on different partitions.
	s.keyless.Store(rand.Uint32())
	return s, nil
}

func sinkConfig(cfg registry.Config) (*sarama.Config, error) {
	sc, err := baseConfig(cfg)
	if err != nil {
		return nil, err
	}
	switch cfg.String("acks") {
	case "leader":
		sc.Producer.RequiredAcks = sarama.WaitForLocal
	case "none":
		sc.Producer.RequiredAcks = sarama.NoResponse
	default:
		sc.Producer.RequiredAcks = sarama.WaitForAll
	}
	switch cfg.String("compression") {
	case "gzip":
		sc.Producer.Compression = sarama.CompressionGZIP
	case "snappy":
		sc.Producer.Compression = sarama.CompressionSnappy
	case "lz4":
		sc.Producer.Compression = sarama.CompressionLZ4
	case "zstd":
		sc.Producer.Compression = sarama.CompressionZSTD
		if !sc.Version.IsAtLeast(sarama.V2_1_0_0) {
			sc.Version = sarama.V2_1_0_0
		}
	}
	if n := cfg.Int("max_message_bytes"); n > 0 {
		sc.Producer.MaxMessageBytes = n
	}
	if cfg.Has("retries") {
		sc.Producer.Retry.Max = cfg.Int("retries")
	}
	if d := cfg.Duration("retry_backoff"); d > 0 {
		sc.Producer.Retry.Backoff = d
	}
	return sc, nil
}

// produceVersion is the produce request version Sarama's AsyncProducer
// sends for a configured Kafka version (produceSet.buildRequest). The
// sink writes record batches (v2), which Kafka reads since 0.11.
func produceVersion(v sarama.KafkaVersion) (int16, error) {
	switch {
	case v.IsAtLeast(sarama.V2_4_0_0):
		return 8, nil
	case v.IsAtLeast(sarama.V2_1_0_0):
		return 7, nil
	case v.IsAtLeast(sarama.V2_0_0_0):
		return 6, nil
	case v.IsAtLeast(sarama.V1_0_0_0):
		return 5, nil
	case v.IsAtLeast(sarama.V0_11_0_0):
		return 3, nil
	}
	return 0, fmt.Errorf("the kafka sink writes record batches, which need Kafka 0.11.0 or later (version is %s)", v)
}

// hashPartition is the partition sarama.NewHashPartitioner picks for a
// key among n: FNV-1a of the key, taken as a signed 32-bit number modulo
// n, made positive. Watermill and other Sarama programs put keys there.
func hashPartition(key []byte, n int32) int32 {
	h := uint32(2166136261)
	for _, c := range key {
		h ^= uint32(c)
		h *= 16777619
	}
	p := int32(h) % n
	if p < 0 {
		p = -p
	}
	return p
}

// retriable are the partition errors Sarama's AsyncProducer retries
// (brokerProducer.handleSuccess): leadership moving, a replica short, a
// timeout. The rest fail the partition's records at once.
func retriable(err sarama.KError) bool {
	switch err {
	case sarama.ErrInvalidMessage, sarama.ErrUnknownTopicOrPartition, sarama.ErrLeaderNotAvailable, sarama.ErrNotLeaderForPartition,
		sarama.ErrRequestTimedOut, sarama.ErrNotEnoughReplicas, sarama.ErrNotEnoughReplicasAfterAppend, sarama.ErrKafkaStorageError:
		return true
	}
	return false
}

// setFailing records whether partition p's last batch failed in a way
// worth retrying (it is then probed, see round).
func (s *sink) setFailing(p int32, failing bool) {
	s.failingMu.Lock()
	defer s.failingMu.Unlock()
	if !failing {
		delete(s.failing, p)
		return
	}
	if s.failing == nil {
		s.failing = map[int32]bool{}
	}
	s.failing[p] = true
}

func (s *sink) isFailing(p int32) bool {
	s.failingMu.Lock()
	defer s.failingMu.Unlock()
	return s.failing[p]
}

// Write publishes msgs (Body as value, Key as key, Meta as headers) and
// returns nil once the brokers acknowledged every one of them. When only
// some failed for good, it returns a *registry.WriteError naming them.
func (s *sink) Write(ctx context.Context, msgs []*message.Message) error {
	if len(msgs) == 0 {
		return nil
	}
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return fmt.Errorf("kafka sink %q: closed", s.topic)
	}
	s.writes.Add(1)
	s.mu.RUnlock()
	defer s.writes.Done()

	w := &write{
		s: s, now: time.Now().Truncate(time.Millisecond),
		recs: make([]sarama.Record, len(msgs)), size: make([]int, len(msgs)),
		part: make([]int32, len(msgs)), errs: make([]error, len(msgs)), again: make([]bool, len(msgs)),
	}
	arena := newRecordArena(msgs)
	todo := make([]int, 0, len(msgs))
	for i, m := range msgs {
		if err := toRecord(&w.recs[i], m, arena); err != nil {
			w.errs[i] = fmt.Errorf("message %s: %w", m.ID, err)
			continue
		}
		w.size[i] = recordSize(&w.recs[i])
		if w.size[i] > s.maxBytes {
			w.errs[i] = sarama.ConfigurationError(fmt.Sprintf(
				"Attempt to produce message larger than configured Producer.MaxMessageBytes (max_message_bytes): %d > %d", w.size[i], s.maxBytes))
			continue
		}
		todo = append(todo, i)
	}
	for attempt := 0; len(todo) > 0; attempt++ {
		retry, refresh, err := w.round(ctx, todo)
		if err != nil {
			break // ctx ended: what had no answer failed with it, the rest stands
		}
		if len(retry) == 0 || attempt >= s.retries {
			break
		}
		s.logger.Debug("kafka sink: retrying", "messages", len(retry), "attempt", attempt+1, "error", w.errs[retry[0]])
		if err := sleep(ctx, s.backoff); err != nil {
			for _, i := range retry {
				w.errs[i] = fmt.Errorf("retrying: %w (after %w)", err, w.errs[i])
			}
			break
		}
		if refresh {
			if err := s.client.RefreshMetadata(s.topic); err != nil {
				s.logger.Debug("kafka sink: metadata refresh failed", "error", err)
			}
		}
		slices.Sort(retry) // back in write order: answers came broker by broker
		todo = retry
	}
	return w.result()
}

// errUnanswered marks a record sent in this round whose answer has not come.
var errUnanswered = errors.New("no answer from the broker yet")

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// write is the state of one Write call, indexed like its messages.
type write struct {
	s        *sink
	now      time.Time // the records' timestamp
	recs     []sarama.Record
	size     []int   // recordSize
	part     []int32 // chosen partition, once assigned
	assigned bool
	errs     []error // nil: written (or not tried yet)
	again    []bool  // errs[i] may go away if the record is sent again
}

// batch is the records of one partition that go in one record batch.
type batch struct {
	partition int32
	idx       []int // records, in write order
	bytes     int   // batchOverhead and recordSize of each
}

// call is one produce request to one broker.
type call struct {
	broker  *sarama.Broker
	gen     uint64 // of the broker's connection when sent
	batches []*batch
	bytes   int
	res     *sarama.ProduceResponse // set by the callback
	err     error
}

// round sends the records todo (indexes, in order) and waits for the
// brokers' answers. It sets errs of each and returns those worth sending
// again, and whether metadata should be refreshed first.
//
// A partition that failed last time (refused with a retriable error, or
// its connection lost) is probed: its first batch goes alone, and the
// rest of its records follow once that one is written. Without this a
// write split in many batches sends them all again and again to a
// partition that refuses them, many times the requests (and garbage) of
// the outage itself.
func (w *write) round(ctx context.Context, todo []int) (retry []int, refresh bool, err error) {
	s := w.s
	fail := func(idx []int, err error, again bool) {
		for _, i := range idx {
			w.errs[i], w.again[i] = err, again
		}
		if again {
			retry = append(retry, idx...)
		}
	}
	// Until its answer comes: what ctx cutting the wait short leaves failed.
	fail(todo, errUnanswered, false)
	if !w.assigned {
		if err := w.assign(todo); err != nil {
			fail(todo, err, true)
			return retry, true, nil
		}
	}

	// Group by partition, in write order, splitting at max_message_bytes.
	open := map[int32]*batch{}
	perPartition := map[int32][]*batch{}
	var partitions []int32
	for _, i := range todo {
		p := w.part[i]
		b := open[p]
		if b == nil || b.bytes+w.size[i] >= s.maxBytes {
			b = &batch{partition: p, bytes: batchOverhead}
			open[p] = b
			if perPartition[p] == nil {
				partitions = append(partitions, p)
			}
			perPartition[p] = append(perPartition[p], b)
		}
		b.idx = append(b.idx, i)
		b.bytes += w.size[i]
	}

	leaders := map[int32]*sarama.Broker{}
	var first []*batch
	held := map[int32][]*batch{} // behind a probe
	count := 0
	for _, p := range partitions {
		bs := perPartition[p]
		count += len(bs)
		leader, err := s.client.Leader(s.topic, p)
		if err != nil {
			for _, b := range bs {
				fail(b.idx, fmt.Errorf("partition %d: no leader: %w", p, err), true)
			}
			s.setFailing(p, true)
			refresh = true
			continue
		}
		leaders[p] = leader
		if len(bs) > 1 && s.isFailing(p) {
			first, held[p] = append(first, bs[0]), bs[1:]
			continue
		}
		first = append(first, bs...)
	}

	// Every call comes back on done exactly once, from the broker's
	// receiver or from send; there is at most one call per batch.
	done := make(chan *call, count)
	pending := w.send(first, leaders, done)
	sent := false
	if len(held) == 0 {
		// Every record of this write is queued, in order: the runtime
		// may hand over the next write while this one waits.
		registry.Sent(ctx)
		sent = true
	}
	type conn struct {
		broker *sarama.Broker
		gen    uint64
	}
	closing := map[conn]bool{}
	for ; pending > 0; pending-- {
		var c *call
		select {
		case c = <-done:
		case <-ctx.Done():
			// Answered batches stand; the others may or may not be
			// written: they fail, to be sent again (at least once).
			for _, i := range todo {
				if w.errs[i] == errUnanswered {
					w.errs[i], w.again[i] = fmt.Errorf("waiting for the brokers: %w", ctx.Err()), true
				}
			}
			return nil, false, ctx.Err()
		}
		for _, b := range c.batches {
			err, again := w.outcome(c, b)
			if err != nil {
				err = fmt.Errorf("partition %d: %w", b.partition, err)
			}
			fail(b.idx, err, again)
			refresh = refresh || again
			s.setFailing(b.partition, again)
			rest := held[b.partition]
			if rest == nil {
				continue
			}
			delete(held, b.partition)
			if again { // the partition still refuses: the rest would be refused too
				for _, r := range rest {
					fail(r.idx, err, true)
				}
				continue
			}
			pending += w.send(rest, leaders, done)
		}
		if !sent && len(held) == 0 {
			registry.Sent(ctx)
			sent = true
		}
		if brokenConnection(c.err) {
			closing[conn{c.broker, c.gen}] = true
		}
	}
	if !sent {
		registry.Sent(ctx)
	}
	// A connection that failed is closed (not from the receiver, which
	// Close waits for); the client opens it again on the next Leader.
	for c := range closing {
		s.closeConnection(c.broker, c.gen)
	}
	return retry, refresh, nil
}

// connection is the generation of br's connection, for a call sent on it.
func (s *sink) connection(br *sarama.Broker) uint64 {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	return s.conns[br]
}

// closeConnection closes br's connection if it is still the one of
// generation gen. Writes overlap: by the time one has every answer of
// its round, another may have closed the failed connection and opened a
// new one; closing that would fail healthy requests and send them twice.
func (s *sink) closeConnection(br *sarama.Broker, gen uint64) {
	s.connMu.Lock()
	defer s.connMu.Unlock()
	if s.conns[br] != gen {
		return
	}
	if s.conns == nil {
		s.conns = map[*sarama.Broker]uint64{}
	}
	s.conns[br] = gen + 1
	s.logger.Debug("kafka sink: closing a failed broker connection", "broker", br.Addr())
	_ = br.Close()
}

// send groups batches by leader into produce requests and sends them,
// taking the brokers in turn; it returns how many calls will come back
// on done. A partition's batches go in successive requests (a request
// holds one batch per partition), and a request stays within what
// Sarama allows one to carry.
func (w *write) send(batches []*batch, leaders map[int32]*sarama.Broker, done chan<- *call) int {
	s := w.s
	requestLimit := int(sarama.MaxRequestSize) - 10*1024
	last := map[int32]int{} // partition -> index of the request holding its last batch
	calls := map[*sarama.Broker][]*call{}
	var brokers []*sarama.Broker
	total, most := 0, 0
	for _, b := range batches {
		leader := leaders[b.partition]
		list := calls[leader]
		if list == nil {
			brokers = append(brokers, leader)
		}
		k, ok := last[b.partition]
		if ok {
			k++
		}
		for k < len(list) && list[k].bytes+b.bytes > requestLimit {
			k++
		}
		if k == len(list) {
			list = append(list, &call{broker: leader})
			calls[leader] = list
			total, most = total+1, max(most, len(list))
		}
		list[k].batches = append(list[k].batches, b)
		list[k].bytes += b.bytes
		last[b.partition] = k
	}
	broken := map[*sarama.Broker]error{}
	for k := range most {
		for _, br := range brokers {
			if k >= len(calls[br]) {
				continue
			}
			c := calls[br][k]
			c.gen = s.connection(br)
			if err := broken[br]; err != nil {
				c.err = err
				done <- c
				continue
			}
			err := br.AsyncProduce(w.request(c), func(res *sarama.ProduceResponse, err error) {
				c.res, c.err = res, err
				done <- c
			})
			if err != nil {
				c.err, broken[br] = err, err
			}
			if err != nil || s.acks == sarama.NoResponse {
				done <- c // no callback comes
			}
		}
	}
	return total
}

// outcome is what became of batch b of call c: nil when written, else
// the error and whether sending again may help.
func (w *write) outcome(c *call, b *batch) (err error, again bool) {
	switch {
	case brokenConnection(c.err): // the request may not have arrived
		return c.err, true
	case c.err != nil:
		return c.err, false
	case c.res == nil: // acks none: written once sent
		return nil, false
	}
	block := c.res.GetBlock(w.s.topic, b.partition)
	switch {
	case block == nil:
		return sarama.ErrIncompleteResponse, false
	case block.Err == sarama.ErrNoError, block.Err == sarama.ErrDuplicateSequenceNumber:
		return nil, false
	case block.ErrorMessage != nil && *block.ErrorMessage != "":
		return fmt.Errorf("%w (%s)", block.Err, *block.ErrorMessage), retriable(block.Err)
	}
	return block.Err, retriable(block.Err)
}

// brokenConnection tells whether a request's error means its connection
// failed (closed, reset, timed out, an answer that does not decode), as
// Sarama's producer reckons: any error but a request that cannot be
// encoded or that this Kafka version does not have.
func brokenConnection(err error) bool {
	var encoding sarama.PacketEncodingError
	return err != nil && !errors.As(err, &encoding) && !errors.Is(err, sarama.ErrUnsupportedVersion)
}

// request builds the produce request of c: one record batch per
// partition, as a non-idempotent Sarama producer sends it.
func (w *write) request(c *call) *sarama.ProduceRequest {
	s := w.s
	req := &sarama.ProduceRequest{RequiredAcks: s.acks, Timeout: s.timeout, Version: s.version}
	for _, b := range c.batches {
		rb := &sarama.RecordBatch{
			Version: 2, Codec: s.codec, CompressionLevel: s.level,
			FirstTimestamp: w.now, MaxTimestamp: w.now,
			ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1,
			LastOffsetDelta: int32(len(b.idx) - 1),
			Records:         make([]*sarama.Record, len(b.idx)),
		}
		for j, i := range b.idx {
			r := &w.recs[i]
			r.OffsetDelta = int64(j)
			rb.Records[j] = r
		}
		req.AddBatch(s.topic, b.partition, rb)
	}
	return req
}

// assign picks the partition of every record: a keyed one where Sarama's
// hash partitioner puts its key, the keyless ones of this write all on
// one partition (large batches; the next write takes the next one).
func (w *write) assign(todo []int) error {
	s := w.s
	parts, err := s.client.Partitions(s.topic)
	if err == nil && len(parts) == 0 {
		err = sarama.ErrLeaderNotAvailable
	}
	if err != nil {
		return fmt.Errorf("partitions of the topic: %w", err)
	}
	keyless := int32(-1)
	for _, i := range todo {
		if key := w.recs[i].Key; key != nil {
			w.part[i] = parts[hashPartition(key, int32(len(parts)))]
			continue
		}
		if keyless < 0 {
			choice := parts
			if writable, err := s.client.WritablePartitions(s.topic); err == nil && len(writable) > 0 {
				choice = writable
			}
			keyless = choice[int(s.keyless.Add(1)%uint32(len(choice)))]
		}
		w.part[i] = keyless
	}
	w.assigned = true
	return nil
}

// result is nil when every message was written, a *registry.WriteError
// naming the failed ones when some were, and an error wrapping the first
// failure when none was. When no failure can go away by sending again
// (a message too large, a reserved header, an error Kafka does not retry),
// the error is backoff.Permanent: the retry middleware leaves it alone.
func (w *write) result() error {
	var failed []int
	var first error
	permanent := true
	for i, err := range w.errs {
		if err != nil {
			failed = append(failed, i)
			permanent = permanent && !w.again[i]
			if first == nil {
				first = err
			}
		}
	}
	if len(failed) == 0 {
		return nil
	}
	err := fmt.Errorf("kafka sink %q: %d of %d messages not written: %w", w.s.topic, len(failed), len(w.errs), first)
	if permanent {
		err = backoff.Permanent(err)
	}
	if len(failed) == len(w.errs) {
		return err
	}
	return &registry.WriteError{Failed: failed, Err: err}
}

// Close waits for the writes in progress, then closes the client.
func (s *sink) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	s.writes.Wait()
	return s.client.Close()
}
