package message

import (
	"bytes"
	"fmt"

	json "github.com/goccy/go-json"
)

// Codec turns source bytes into a payload and a payload into sink bytes.
type Codec int

const (
	JSON  Codec = iota // objects, lists, numbers (int when integral and in int64, else float64), strings, bools, null
	Text               // the payload is the bytes as a string
	Bytes              // the payload is the bytes ([]byte)
)

// Codecs are the codec names a flow file may use.
var Codecs = []string{"json", "text", "bytes"}

// ParseCodec maps a codec name to a Codec.
func ParseCodec(name string) (Codec, error) {
	switch name {
	case "", "json":
		return JSON, nil
	case "text":
		return Text, nil
	case "bytes":
		return Bytes, nil
	}
	return 0, fmt.Errorf("unknown codec %q; use json, text or bytes", name)
}

func (c Codec) String() string { return Codecs[c] }

// Decode sets m.Payload from m.Raw once.
func (c Codec) Decode(m *Message) error {
	if m.Decoded {
		return nil
	}
	switch c {
	case Text:
		m.Payload = string(m.Raw)
	case Bytes:
		m.Payload = m.Raw
	default:
		v, err := decodeJSON(m.Raw)
		if err != nil {
			return fmt.Errorf("decode json: %w", err)
		}
		m.Payload = v
	}
	m.Decoded = true
	return nil
}

// Validate checks that m.Raw decodes, without building the payload: the
// cheap path for flows whose stages never read the payload.
func (c Codec) Validate(m *Message) error {
	if c != JSON || m.Decoded || json.Valid(m.Raw) {
		return nil
	}
	return c.Decode(m) // for the precise error
}

// Encode sets m.Body: the raw bytes when the payload is unchanged, else
// the payload encoded. Strings and byte slices are written as they are
// by the text and bytes codecs, JSON-encoded by json.
func (c Codec) Encode(m *Message) error {
	if !m.Changed {
		m.Body = m.Raw
		return nil
	}
	switch p := m.Payload.(type) {
	case string:
		if c != JSON {
			m.Body = []byte(p)
			return nil
		}
	case []byte:
		if c != JSON {
			m.Body = p
			return nil
		}
	}
	b, err := appendJSON(make([]byte, 0, max(len(m.Raw), 64)+32), m.Payload)
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	m.Body = b
	return nil
}

// AppendEnvelope appends m as one JSON object {"id","key","topic","meta","payload"}
// to buf. The payload is m.Body embedded as JSON when it is valid JSON,
// else as a JSON string.
func AppendEnvelope(buf []byte, m *Message) ([]byte, error) {
	buf = append(buf, `{"id":`...)
	buf = appendJSONString(buf, m.ID)
	buf = append(buf, `,"key":`...)
	buf = appendJSONString(buf, m.Key)
	buf = append(buf, `,"topic":`...)
	buf = appendJSONString(buf, m.Topic)
	buf = append(buf, `,"meta":`...)
	if m.Meta == nil {
		buf = append(buf, "{}"...)
	} else {
		buf, _ = appendJSON(buf, m.Meta) // map[string]string cannot fail
	}
	buf = append(buf, `,"payload":`...)
	if body := bytes.TrimSpace(m.Body); len(body) > 0 && json.Valid(body) {
		if bytes.IndexByte(body, '\n') >= 0 { // keep the envelope on one line
			var compact bytes.Buffer
			if err := json.Compact(&compact, body); err != nil {
				return buf, fmt.Errorf("encode envelope: %w", err)
			}
			body = compact.Bytes()
		}
		buf = append(buf, body...)
	} else {
		buf = appendJSONString(buf, string(m.Body))
	}
	return append(buf, '}'), nil
}
