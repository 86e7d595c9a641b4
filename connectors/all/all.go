// Package all registers every connector; import it for its side effect.
package all

import (
	// Built-in connectors (one package each).
	_ "github.com/flowrun/flowrun/connectors/amqp"
	_ "github.com/flowrun/flowrun/connectors/drop"
	_ "github.com/flowrun/flowrun/connectors/file"
	_ "github.com/flowrun/flowrun/connectors/generate"
	_ "github.com/flowrun/flowrun/connectors/http"
	_ "github.com/flowrun/flowrun/connectors/kafka"
	_ "github.com/flowrun/flowrun/connectors/memory"
	_ "github.com/flowrun/flowrun/connectors/nats"
	_ "github.com/flowrun/flowrun/connectors/postgres"
	_ "github.com/flowrun/flowrun/connectors/redis"
	_ "github.com/flowrun/flowrun/connectors/stdio"
)
