package message

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"unicode/utf8"

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
		o := newOrigin(m.Raw)
		v, err := decodeInto(o)
		if err != nil {
			return fmt.Errorf("decode json: %w", err)
		}
		m.Payload, m.origin = v, o
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
	b, err := m.encoder().value(make([]byte, 0, max(len(m.Raw), 64)+32), m.Payload)
	if err != nil {
		return fmt.Errorf("encode json: %w", err)
	}
	m.Body = b
	return nil
}

// AppendEnvelope appends m as one JSON object on one line:
// {"id","key","topic","meta","payload"}. The payload is m.Body exactly,
// whatever its bytes:
//   - valid UTF-8 JSON on one line, without spaces around it, is
//     embedded as it is;
//   - other valid UTF-8 (text, or JSON spread over lines) is a JSON
//     string of those bytes, with "payload_encoding":"text";
//   - anything else is its standard base64, with "payload_encoding":"base64".
//
// A key that is not valid UTF-8 is written in base64 likewise, with
// "key_encoding":"base64".
func AppendEnvelope(buf []byte, m *Message) ([]byte, error) {
	buf = append(buf, `{"id":`...)
	buf = appendJSONString(buf, m.ID)
	if utf8.ValidString(m.Key) {
		buf = append(buf, `,"key":`...)
		buf = appendJSONString(buf, m.Key)
	} else {
		buf = append(buf, `,"key_encoding":"base64","key":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, []byte(m.Key))
		buf = append(buf, '"')
	}
	buf = append(buf, `,"topic":`...)
	buf = appendJSONString(buf, m.Topic)
	buf = append(buf, `,"meta":`...)
	if m.Meta == nil {
		buf = append(buf, "{}"...)
	} else {
		buf, _ = appendJSON(buf, m.Meta) // map[string]string cannot fail
	}
	switch body := m.Body; {
	case !utf8.Valid(body):
		buf = append(buf, `,"payload_encoding":"base64","payload":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, body)
		buf = append(buf, '"')
	case len(body) > 0 && len(bytes.TrimSpace(body)) == len(body) && !bytes.ContainsAny(body, "\r\n") && json.Valid(body):
		buf = append(buf, `,"payload":`...)
		buf = append(buf, body...)
	default:
		buf = append(buf, `,"payload_encoding":"text","payload":`...)
		buf = appendJSONString(buf, string(body))
	}
	return append(buf, '}'), nil
}
