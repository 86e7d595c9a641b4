package tap

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/redact"
)

// Fields are the message fields masked in every line: "key",
// "meta.NAME" or "payload.PATH" (dots between object keys).
type Fields []string

// ParseFields checks a comma-separated --redact list.
func ParseFields(list string) (Fields, error) {
	var out Fields
	for _, f := range strings.Split(list, ",") {
		f = strings.TrimSpace(f)
		switch {
		case f == "":
		case f == "key", strings.HasPrefix(f, "meta.") && len(f) > len("meta."),
			strings.HasPrefix(f, "payload.") && len(f) > len("payload.") && !strings.Contains(f, ".."):
			out = append(out, f)
		default:
			return nil, fmt.Errorf("--redact %q: name key, meta.NAME or payload.FIELD[.FIELD...]", f)
		}
	}
	return out, nil
}

// mask hides fs in m. A payload that is not a JSON object keeps its
// bytes (there is no field to hide); the rest of one that is keeps its
// bytes too, only the masked members are written anew.
func (fs Fields) mask(m *message.Message) {
	var paths [][]string
	for _, f := range fs {
		switch {
		case f == "key":
			if m.Key != "" {
				m.Key = redact.Mask
			}
		case strings.HasPrefix(f, "meta."):
			if _, ok := m.Meta[f[len("meta."):]]; ok {
				m.Meta[f[len("meta."):]] = redact.Mask
			}
		default:
			paths = append(paths, strings.Split(f[len("payload."):], "."))
		}
	}
	if len(paths) == 0 {
		return
	}
	pm := &message.Message{Raw: m.Body}
	if message.JSON.Decode(pm) != nil {
		return
	}
	changed := false
	for _, p := range paths {
		changed = maskPath(pm.Payload, p) || changed
	}
	if !changed {
		return
	}
	pm.Changed = true
	if message.JSON.Encode(pm) == nil {
		m.Body = pm.Body
	}
}

// maskPath replaces the value at path in v, an object decode built.
func maskPath(v any, path []string) bool {
	obj, ok := v.(map[string]any)
	if !ok {
		return false
	}
	child, ok := obj[path[0]]
	if !ok {
		return false
	}
	if len(path) == 1 {
		obj[path[0]] = redact.Mask
		return true
	}
	return maskPath(child, path[1:])
}

// appendString appends s as a JSON string, without escaping <, > and &
// (the edge reads as a->b).
func appendString(buf []byte, s string) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string cannot fail
	return append(buf, bytes.TrimSuffix(b.Bytes(), []byte("\n"))...)
}

// appendLine writes one sample as the line `flowrun tap` prints:
// {"edge","time", then the envelope's "id","key","topic","meta","payload"}
// (the payload exact where it is JSON: see message.AppendEnvelope).
func appendLine(buf []byte, s *sample) []byte {
	buf = append(buf, `{"edge":`...)
	buf = appendString(buf, s.at.Edge())
	buf = append(buf, `,"time":"`...)
	buf = s.time.UTC().AppendFormat(buf, time.RFC3339Nano)
	buf = append(buf, `",`...)
	start := len(buf)
	buf, _ = message.AppendEnvelope(buf, &s.msg) // never fails
	buf = append(buf[:start], buf[start+1:]...)  // its opening brace: ours is open
	return append(buf, '\n')
}
