package kafka

import (
	"maps"
	"testing"

	"github.com/IBM/sarama"
	wkafka "github.com/ThreeDotsLabs/watermill-kafka/v3/pkg/kafka"
	wmessage "github.com/ThreeDotsLabs/watermill/message"
	"github.com/flowrun/flowrun/message"
)

func headerMap(hs []sarama.RecordHeader) map[string]string {
	out := map[string]string{}
	for _, h := range hs {
		out[string(h.Key)] = string(h.Value)
	}
	return out
}

func recordHeaderMap(hs []*sarama.RecordHeader) map[string]string {
	out := map[string]string{}
	for _, h := range hs {
		out[string(h.Key)] = string(h.Value)
	}
	return out
}

// toRecord writes what watermill-kafka's DefaultMarshaler writes, plus
// the key, and watermill reads it back as the same message.
func TestToRecordMatchesWatermill(t *testing.T) {
	m := &message.Message{ID: "id-1", Key: "k", Meta: map[string]string{"a": "1", "b": "2"}, Body: []byte("body")}
	var got sarama.Record
	if err := toRecord(&got, m, newRecordArena([]*message.Message{m})); err != nil {
		t.Fatal(err)
	}
	wm := wmessage.NewMessage("id-1", []byte("body"))
	wm.Metadata = wmessage.Metadata{"a": "1", "b": "2"}
	want, err := wkafka.DefaultMarshaler{}.Marshal("t", wm)
	if err != nil {
		t.Fatal(err)
	}
	wv, _ := want.Value.Encode()
	if string(got.Value) != string(wv) || !maps.Equal(recordHeaderMap(got.Headers), headerMap(want.Headers)) || string(got.Key) != "k" {
		t.Fatalf("toRecord = %+v (headers %v), watermill = %+v (headers %v)", got, recordHeaderMap(got.Headers), want, headerMap(want.Headers))
	}
	// The record counts against max_message_bytes as Sarama's producer
	// counts the same message.
	want.Key = sarama.StringEncoder("k")
	if size, wantSize := recordSize(&got), want.ByteSize(2); size != wantSize {
		t.Fatalf("recordSize = %d, Sarama's ByteSize = %d", size, wantSize)
	}
	back, err := wkafka.DefaultMarshaler{}.Unmarshal(&sarama.ConsumerMessage{Key: got.Key, Value: got.Value, Headers: got.Headers})
	if err != nil || back.UUID != "id-1" || string(back.Payload) != "body" || !maps.Equal(map[string]string(back.Metadata), map[string]string(wm.Metadata)) {
		t.Fatalf("watermill reads the record back as %+v, %v", back, err)
	}

	if err := toRecord(&got, &message.Message{Meta: map[string]string{wkafka.UUIDHeaderKey: "x"}}, &recordArena{}); err == nil {
		t.Fatal("the reserved header was accepted as metadata")
	}
	var bare sarama.Record
	if err := toRecord(&bare, &message.Message{}, &recordArena{}); err != nil || len(recordHeaderMap(bare.Headers)[wkafka.UUIDHeaderKey]) != 36 || bare.Key != nil {
		t.Fatalf("a message without id or key: headers %v key %v (%v)", recordHeaderMap(bare.Headers), bare.Key, err)
	}
}

// toMessage reads what watermill-kafka's DefaultMarshaler reads.
func TestToMessageMatchesWatermill(t *testing.T) {
	km := &sarama.ConsumerMessage{Topic: "t", Partition: 3, Offset: 7, Key: []byte("k"), Value: []byte("v"),
		Headers: []*sarama.RecordHeader{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte(wkafka.UUIDHeaderKey), Value: []byte("id-1")}}}
	want, err := wkafka.DefaultMarshaler{}.Unmarshal(km)
	if err != nil {
		t.Fatal(err)
	}
	got := toMessage(km, nil)
	if got.ID != want.UUID || !maps.Equal(got.Meta, map[string]string(want.Metadata)) || string(got.Raw) != string(want.Payload) ||
		got.Key != "k" || got.Topic != "t" || got.Partition != 3 || got.Offset != 7 {
		t.Fatalf("toMessage = %+v, watermill = %+v", got, want)
	}
	bare := toMessage(&sarama.ConsumerMessage{Topic: "t", Partition: 3, Offset: 7}, nil)
	if bare.ID != "t-3-7" || bare.Meta != nil {
		t.Fatalf("a record without headers: %+v", bare)
	}
}
