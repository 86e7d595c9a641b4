package kafka

import (
	"encoding/binary"
	"errors"

	"github.com/IBM/sarama"
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

// send groups batches by leader into produce requests and sends them,
// taking the brokers in turn; it returns how many calls will come back
// on done. A partition's batches go in successive requests (a request
// holds one batch per partition), and a request stays within what
// Sarama allows one to carry.
func (w *write) send(batches []*batch, leaders map[topicPartition]*sarama.Broker, done chan<- *call) int {
	s := w.s
	requestLimit := int(sarama.MaxRequestSize) - 10*1024
	last := map[topicPartition]int{} // partition -> index of the request holding its last batch
	calls := map[*sarama.Broker][]*call{}
	var brokers []*sarama.Broker
	total, most := 0, 0
	for _, b := range batches {
		leader := leaders[b.topicPartition]
		list := calls[leader]
		if list == nil {
			brokers = append(brokers, leader)
		}
		k, ok := last[b.topicPartition]
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
		last[b.topicPartition] = k
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
		req.AddBatch(b.topic, b.partition, rb)
	}
	return req
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

// brokenConnection tells whether a request's error means its connection
// failed (closed, reset, timed out, an answer that does not decode), as
// Sarama's producer reckons: any error but a request that cannot be
// encoded or that this Kafka version does not have.
func brokenConnection(err error) bool {
	var encoding sarama.PacketEncodingError
	return err != nil && !errors.As(err, &encoding) && !errors.Is(err, sarama.ErrUnsupportedVersion)
}
