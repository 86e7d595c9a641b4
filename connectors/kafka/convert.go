package kafka

import (
	"fmt"
	"strconv"

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
		Key: string(km.Key), Topic: km.Topic, Raw: km.Value,
		Partition: km.Partition, Offset: km.Offset, Ref: ref,
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
		m.ID = km.Topic + "-" + strconv.Itoa(int(km.Partition)) + "-" + strconv.FormatInt(km.Offset, 10)
	}
	return m
}

// toRecord fills r with a message to write: Body is the value, Key the
// key (none when empty), Meta the headers, plus the id in the watermill
// UUID header (a new UUID when the message has none). It builds the
// record Sarama encodes into a batch directly, with no ProducerMessage
// in between. Offsets and timestamps are the batch's business.
func toRecord(r *sarama.Record, m *message.Message) error {
	if _, reserved := m.Meta[wkafka.UUIDHeaderKey]; reserved {
		return fmt.Errorf("metadata %s is reserved by watermill for message UUID", wkafka.UUIDHeaderKey)
	}
	id := m.ID
	if id == "" {
		id = uuid.NewString()
	}
	headers := make([]sarama.RecordHeader, 1, len(m.Meta)+1)
	headers[0] = sarama.RecordHeader{Key: []byte(wkafka.UUIDHeaderKey), Value: []byte(id)}
	for k, v := range m.Meta {
		headers = append(headers, sarama.RecordHeader{Key: []byte(k), Value: []byte(v)})
	}
	*r = sarama.Record{Value: m.Body, Headers: make([]*sarama.RecordHeader, len(headers))}
	for i := range headers {
		r.Headers[i] = &headers[i]
	}
	if m.Key != "" {
		r.Key = []byte(m.Key)
	}
	return nil
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
