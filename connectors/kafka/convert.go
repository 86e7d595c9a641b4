package kafka

import (
	"fmt"
	"strconv"
	"unsafe"

	"github.com/IBM/sarama"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	"github.com/flowrun/flowrun/message"
	"github.com/google/uuid"
)

// The conversions below are watermill-kafka's DefaultMarshaler (headers
// <-> metadata, the message id in the _watermill_message_uuid header),
// written out so no watermill Message (two channels and a map per
// record, a third of the source's CPU in profiles) is built per record.
// convert_test.go checks they match DefaultMarshaler both ways.

// toMessage converts a consumed record: headers become metadata, the
// watermill UUID header the id, and a record without one gets an id
// that stays the same on redelivery (topic-partition-offset).
func toMessage(km *sarama.ConsumerMessage, ref any) *message.Message {
	m := &message.Message{
		Topic: km.Topic, Raw: km.Value,
		Partition: km.Partition, Offset: km.Offset, Ref: ref,
	}
	if len(km.Key) > 0 {
		// Like Value (Raw), the key lives in the fetch response, which
		// Sarama allocates per response and never writes again.
		m.Key = unsafe.String(&km.Key[0], len(km.Key))
	}
	for _, h := range km.Headers {
		if string(h.Key) == wkafka.UUIDHeaderKey {
			m.ID = string(h.Value)
			continue
		}
		if m.Meta == nil {
			m.Meta = make(map[string]string, len(km.Headers))
		}
		m.Meta[string(h.Key)] = string(h.Value)
	}
	if m.ID == "" {
		m.ID = recordID(km.Topic, km.Partition, km.Offset)
	}
	return m
}

// recordID is topic-partition-offset, built in one allocation.
func recordID(topic string, partition int32, offset int64) string {
	b := make([]byte, 0, len(topic)+32)
	b = append(b, topic...)
	b = append(b, '-')
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, '-')
	b = strconv.AppendInt(b, offset, 10)
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// uuidHeaderKey is the watermill UUID header's key, shared by every
// record (Sarama only reads it).
var uuidHeaderKey = []byte(wkafka.UUIDHeaderKey)

// toRecord fills r with a message to write: Body is the value, Key the
// key (none when empty), Meta the headers, plus the id in the watermill
// UUID header (a new UUID when the message has none). It builds the
// record Sarama encodes into a batch directly, with no ProducerMessage
// in between; its headers and bytes come from a, the arena of the
// write. Offsets and timestamps are the batch's business.
func toRecord(r *sarama.Record, m *message.Message, a *recordArena) error {
	if _, reserved := m.Meta[wkafka.UUIDHeaderKey]; reserved {
		return fmt.Errorf("metadata %s is reserved by watermill for message UUID", wkafka.UUIDHeaderKey)
	}
	id := m.ID
	if id == "" {
		id = uuid.NewString()
	}
	headers := a.headers(1 + len(m.Meta))
	headers[0].Key, headers[0].Value = uuidHeaderKey, a.bytesOf(id)
	i := 1
	for k, v := range m.Meta {
		headers[i].Key, headers[i].Value = a.bytesOf(k), a.bytesOf(v)
		i++
	}
	*r = sarama.Record{Value: m.Body, Headers: headers}
	if m.Key != "" {
		r.Key = a.bytesOf(m.Key)
	}
	return nil
}

// recordArena holds the headers and the key and header bytes of a
// write's records: a few allocations per write instead of five or more
// per record (a tenth of a passthrough flow's CPU went there).
type recordArena struct {
	hs []sarama.RecordHeader
	ps []*sarama.RecordHeader
	bs []byte
}

func newRecordArena(msgs []*message.Message) *recordArena {
	headers, size := 0, 0
	for _, m := range msgs {
		headers += 1 + len(m.Meta)
		size += len(m.Key) + max(len(m.ID), 36) // a UUID when there is no id
		for k, v := range m.Meta {
			size += len(k) + len(v)
		}
	}
	a := &recordArena{hs: make([]sarama.RecordHeader, headers), ps: make([]*sarama.RecordHeader, headers), bs: make([]byte, 0, size)}
	for i := range a.hs {
		a.ps[i] = &a.hs[i]
	}
	return a
}

// headers returns n headers (more allocated when the arena ran out).
func (a *recordArena) headers(n int) []*sarama.RecordHeader {
	if len(a.ps) < n {
		hs, ps := make([]sarama.RecordHeader, n), make([]*sarama.RecordHeader, n)
		for i := range hs {
			ps[i] = &hs[i]
		}
		return ps
	}
	ps := a.ps[:n:n]
	a.ps = a.ps[n:]
	return ps
}

// bytesOf returns a copy of s.
func (a *recordArena) bytesOf(s string) []byte {
	if cap(a.bs)-len(a.bs) < len(s) {
		return []byte(s)
	}
	start := len(a.bs)
	a.bs = append(a.bs, s...)
	return a.bs[start:len(a.bs):len(a.bs)]
}

// recordSize is what Sarama's producer counts a record as against
// max_message_bytes (ProducerMessage.ByteSize for record batches): its
// key, value and headers plus the most their lengths can take.
func recordSize(r *sarama.Record) int {
	size := recordOverhead + len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		size += len(h.Key) + len(h.Value) + headerOverhead
	}
	return size
}
