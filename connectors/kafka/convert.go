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

// toRecord converts a message to write: Body is the value, Key the key,
// Meta the headers, plus the id in the watermill UUID header (a new
// UUID when the message has none).
func toRecord(topic string, m *message.Message) (*sarama.ProducerMessage, error) {
	if _, reserved := m.Meta[wkafka.UUIDHeaderKey]; reserved {
		return nil, fmt.Errorf("metadata %s is reserved by watermill for message UUID", wkafka.UUIDHeaderKey)
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
	pm := &sarama.ProducerMessage{Topic: topic, Value: sarama.ByteEncoder(m.Body), Headers: headers}
	if m.Key != "" {
		pm.Key = sarama.StringEncoder(m.Key)
	}
	return pm, nil
}
