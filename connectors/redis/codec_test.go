package redis

import (
	"encoding/json"
	"maps"
	"testing"

	"github.com/flowrun/flowrun/message"
	goredis "github.com/redis/go-redis/v9"
)

// asRead turns XADD values into what XREADGROUP gives back: strings.
func asRead(values map[string]any) map[string]any {
	out := map[string]any{}
	for k, v := range values {
		switch v := v.(type) {
		case []byte:
			out[k] = string(v)
		case string:
			out[k] = v
		}
	}
	return out
}

func TestEntryRoundTripKeepsIDKeyMetaAndBytes(t *testing.T) {
	in := &message.Message{ID: "id-1", Key: "k", Meta: map[string]string{"a": "1", "b": "x y"}, Body: []byte{0, 0xff, 'z'}}
	values, err := toValues(in, in.ID)
	if err != nil {
		t.Fatal(err)
	}
	got, err := toMessage("s", goredis.XMessage{ID: "1-0", Values: asRead(values)})
	if err != nil {
		t.Fatal(err)
	}
	if got.ID != "id-1" || got.Key != "k" || string(got.Raw) != string(in.Body) || !maps.Equal(got.Meta, in.Meta) || got.Topic != "s" || got.Ref != "1-0" {
		t.Fatalf("got %+v", got)
	}
}

func TestEntryWithoutMetaOrKeyHasNoSuchFields(t *testing.T) {
	values, err := toValues(&message.Message{Body: []byte("x")}, "id")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := values["metadata"]; ok {
		t.Errorf("empty metadata written: %v", values)
	}
	if _, ok := values[keyField]; ok {
		t.Errorf("empty key written: %v", values)
	}
}

func TestForeignEntries(t *testing.T) {
	withPayload, err := toMessage("s", goredis.XMessage{ID: "5-1", Values: map[string]any{"payload": "hello", "origin": "cli"}})
	if err != nil {
		t.Fatal(err)
	}
	if withPayload.ID != "5-1" || string(withPayload.Raw) != "hello" || withPayload.Meta["origin"] != "cli" {
		t.Errorf("payload entry read as %+v", withPayload)
	}
	fields, err := toMessage("s", goredis.XMessage{ID: "5-2", Values: map[string]any{"name": "ann", "age": "3"}})
	if err != nil {
		t.Fatal(err)
	}
	var obj map[string]string
	if err := json.Unmarshal(fields.Raw, &obj); err != nil || obj["name"] != "ann" || obj["age"] != "3" {
		t.Errorf("field entry read as %q (%v), want a JSON object of its fields", fields.Raw, err)
	}
	broken, err := toMessage("s", goredis.XMessage{ID: "5-3", Values: map[string]any{"_watermill_message_uuid": "u", "payload": "p", "metadata": "\xc1garbage"}})
	if err == nil || string(broken.Raw) != "p" {
		t.Errorf("unreadable metadata: raw %q err %v; want the payload passed on and an error to log", broken.Raw, err)
	}
}
