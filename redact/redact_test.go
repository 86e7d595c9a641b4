package redact

import (
	"bytes"
	"fmt"
	"reflect"
	"testing"

	"github.com/flowrun/flowrun/registry"
)

func TestString(t *testing.T) {
	var r Redactor
	r.Add("hunter2", "", `q"uote`, "hunter22")
	cases := map[string]string{
		"password hunter2 and hunter22":          "password [redacted] and [redacted]",
		`json "q\"uote" go "q\"uote" raw q"uote`: `json "[redacted]" go "[redacted]" raw [redacted]`,
		"amqp://user:pa55@host:5672/vh failed":   "amqp://user:[redacted]@host:5672/vh failed",
		"redis://:pa55@host and nats://u@host":   "redis://:[redacted]@host and nats://u@host",
		"host=db user=app password=pa55 sslmode": "host=db user=app password=[redacted] sslmode",
		"password = 'pa 55' x":                   "password = [redacted] x",
		"no secret here: http://host/path":       "no secret here: http://host/path",
	}
	for in, want := range cases {
		if got := r.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
	var buf bytes.Buffer
	w := r.Writer(&buf)
	n, err := fmt.Fprint(w, "log: hunter2\n")
	if err != nil || n != len("log: hunter2\n") || buf.String() != "log: [redacted]\n" {
		t.Errorf("Writer wrote %q (n %d, err %v)", buf.String(), n, err)
	}
}

func TestValues(t *testing.T) {
	fields := []registry.Field{
		{Name: "user", Type: registry.String},
		{Name: "password", Type: registry.String, Secret: true},
		{Name: "sasl", Type: registry.Object, Fields: []registry.Field{
			{Name: "token", Type: registry.String, Secret: true}, {Name: "mechanism", Type: registry.String}}},
		{Name: "keys", Type: registry.List, Elem: &registry.Field{Type: registry.String, Secret: true}},
	}
	cfg := registry.Config{"user": "alice", "password": "p1",
		"sasl": registry.Config{"token": "t1", "mechanism": "PLAIN"}, "keys": []any{"k1", "k2"}}
	if got, want := Values(fields, cfg), []string{"p1", "t1", "k1", "k2"}; !reflect.DeepEqual(got, want) {
		t.Errorf("Values = %v, want %v", got, want)
	}
}
