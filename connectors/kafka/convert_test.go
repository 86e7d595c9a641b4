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

// toRecord writes what watermill-kafka's DefaultMarshaler writes, plus the key.
func TestToRecordMatchesWatermill(t *testing.T) {
	m := &message.Message{ID: "id-1", Key: "k", Meta: map[string]string{"a": "1", "b": "2"}, Body: []byte("body")}
	got, err := toRecord("t", m)
	if err != nil {
		t.Fatal(err)
	}
	wm := wmessage.NewMessage("id-1", []byte("body"))
	wm.Metadata = wmessage.Metadata{"a": "1", "b": "2"}
	want, err := wkafka.DefaultMarshaler{}.Marshal("t", wm)
	if err != nil {
		t.Fatal(err)
	}
	gv, _ := got.Value.Encode()
	wv, _ := want.Value.Encode()
	gk, _ := got.Key.Encode()
	if got.Topic != want.Topic || string(gv) != string(wv) || !maps.Equal(headerMap(got.Headers), headerMap(want.Headers)) || string(gk) != "k" {
		t.Fatalf("toRecord = %+v (headers %v), watermill = %+v (headers %v)", got, headerMap(got.Headers), want, headerMap(want.Headers))
	}
	if _, err := toRecord("t", &message.Message{Meta: map[string]string{wkafka.UUIDHeaderKey: "x"}}); err == nil {
		t.Fatal("the reserved header was accepted as metadata")
	}
	if r, _ := toRecord("t", &message.Message{}); len(headerMap(r.Headers)[wkafka.UUIDHeaderKey]) != 36 || r.Key != nil {
		t.Fatalf("a message without id or key: headers %v key %v", headerMap(r.Headers), r.Key)
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
