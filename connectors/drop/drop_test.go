package drop

import (
	"context"
	"testing"

	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

func TestDropAcceptsEverything(t *testing.T) {
	sp, ok := registry.LookupConnector("drop")
	if !ok || sp.Sink == nil || sp.Source != nil || len(sp.SinkFields) != 0 {
		t.Fatal(`"drop" is not registered as a sink without fields`)
	}
	s, err := sp.Sink(context.Background(), registry.Config{}, registry.Env{})
	if err != nil {
		t.Fatal(err)
	}
	msgs := []*message.Message{{Body: []byte("a")}, {Body: nil}}
	if err := s.Write(context.Background(), msgs); err != nil {
		t.Fatalf("Write = %v, want nil", err)
	}
	if err := s.Write(context.Background(), nil); err != nil {
		t.Fatalf("empty Write = %v, want nil", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}
