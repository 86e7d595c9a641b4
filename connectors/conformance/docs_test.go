package conformance_test

import (
	"os"
	"strings"
	"testing"

	_ "github.com/flowrun/flowrun/connectors/amqp"
	_ "github.com/flowrun/flowrun/connectors/http"
	_ "github.com/flowrun/flowrun/connectors/nats"
	_ "github.com/flowrun/flowrun/connectors/postgres"
	_ "github.com/flowrun/flowrun/connectors/redis"
	"github.com/flowrun/flowrun/registry"
)

// docs/brokers.md documents every field of every broker connector, in
// that connector's section: a field added without its line fails here.
func TestBrokerDocsListEveryField(t *testing.T) {
	raw, err := os.ReadFile("../../docs/brokers.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	for _, name := range []string{"nats", "amqp", "redis", "postgres", "http"} {
		start := strings.Index(doc, "(`"+name+"`)")
		if start < 0 {
			t.Errorf("docs/brokers.md has no section for %s", name)
			continue
		}
		section := doc[start:]
		if end := strings.Index(section[1:], "\n## "); end >= 0 {
			section = section[:end+1]
		}
		spec, _ := registry.LookupConnector(name)
		for _, f := range append(append([]registry.Field{}, spec.SourceFields...), spec.SinkFields...) {
			if !strings.Contains(section, "| `"+f.Name+"` |") {
				t.Errorf("docs/brokers.md, section %s: no line for field %s", name, f.Name)
			}
		}
	}
}
