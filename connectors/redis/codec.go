package redis

import (
	"encoding/json"
	"fmt"

	"github.com/ThreeDotsLabs/watermill-redisstream/pkg/redisstream"
	wmessage "github.com/ThreeDotsLabs/watermill/message"
	"github.com/flowrun/flowrun/message"
	goredis "github.com/redis/go-redis/v9"
)

// marshaller is watermill-redisstream's: payload, uuid and msgpack metadata fields.
var marshaller redisstream.DefaultMarshallerUnmarshaller

// toValues turns m into the fields of one stream entry.
func toValues(m *message.Message, id string) (map[string]any, error) {
	wm := wmessage.NewMessage(id, m.Body)
	if len(m.Meta) > 0 {
		wm.Metadata = m.Meta
	}
	values, err := marshaller.Marshal("", wm)
	if err != nil {
		return nil, err
	}
	if values["metadata"] == nil || len(values["metadata"].([]byte)) == 0 {
		delete(values, "metadata") // XADD cannot send a nil value
	}
	if m.Key != "" {
		values[keyField] = m.Key
	}
	return values, nil
}

// toMessage reads one stream entry (see the package comment). An entry
// in watermill's format whose metadata cannot be read is passed on as
// plain fields, with the error to log.
func toMessage(stream string, xm goredis.XMessage) (*message.Message, error) {
	m := &message.Message{Topic: stream, ID: xm.ID, Ref: xm.ID}
	if k, ok := xm.Values[keyField].(string); ok {
		m.Key = k
	}
	var werr error
	if _, ok := xm.Values[redisstream.UUIDHeaderKey]; ok {
		wm, err := unmarshal(xm.Values)
		if err == nil {
			m.Raw, m.Meta = wm.Payload, wm.Metadata
			if wm.UUID != "" {
				m.ID = wm.UUID
			}
			return m, nil
		}
		werr = fmt.Errorf("entry %s of stream %s: %w", xm.ID, stream, err)
	}
	// Written by another program: plain fields.
	m.Meta = map[string]string{}
	if p, ok := xm.Values["payload"].(string); ok {
		m.Raw = []byte(p)
		for k, v := range xm.Values {
			if s, isStr := v.(string); isStr && k != "payload" && k != keyField {
				m.Meta[k] = s
			}
		}
		return m, werr
	}
	fields := make(map[string]any, len(xm.Values))
	for k, v := range xm.Values {
		if k != keyField {
			fields[k] = v
		}
	}
	raw, err := json.Marshal(fields)
	if err != nil {
		return m, fmt.Errorf("entry %s of stream %s: %w", xm.ID, stream, err)
	}
	m.Raw = raw
	return m, werr
}

// unmarshal is the watermill unmarshaller, which panics on fields that
// are not strings: a foreign entry must not bring the flow down.
func unmarshal(values map[string]any) (wm *wmessage.Message, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("not in watermill's format: %v", r)
		}
	}()
	return marshaller.Unmarshal(values)
}
