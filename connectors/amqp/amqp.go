// Package amqp is the `amqp` connector: RabbitMQ (AMQP 0-9-1) queues,
// consumed with a prefetch equal to the flow's in-flight limit (source)
// and published with publisher confirms (sink, dead letter).
//
// Message conventions (watermill-amqp's DefaultMarshaler, so flowrun and
// watermill programs interoperate):
//   - the body is the message body, untouched; messages are published
//     persistent (delivery mode 2);
//   - every metadata entry is a header of the same name (non-string
//     header values are read as their text);
//   - the id travels in the `_watermill_message_uuid` header; without it
//     the message-id property is the id, else a new UUID;
//   - the key travels in the `_flowrun_key` header;
//   - the properties content_type, correlation_id, reply_to, type and
//     app_id appear as metadata amqp_content_type, amqp_correlation_id...
//     and those entries set the properties when publishing; amqp_exchange
//     and amqp_routing_key tell where a delivery was published;
//   - the topic is the queue name.
//
// Delivery: the channel's prefetch (basic.qos) is the flow's in-flight
// limit, so RabbitMQ never has more unacknowledged deliveries out than
// the flow can hold. Ack is basic.ack; Nack is basic.nack with requeue
// after redelivery_delay. A lost connection (crash, broker restart)
// requeues every unacknowledged delivery; the source reconnects.
package amqp

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/flowrun/flowrun/connectors/internal/resend"
	"github.com/flowrun/flowrun/registry"
	amqp "github.com/rabbitmq/amqp091-go"
)

// defaultURL is used when neither url nor $AMQP_URL is set.
const defaultURL = "amqp://guest:guest@127.0.0.1:5672/"

// keyHeader carries the message key.
const keyHeader = "_flowrun_key"

func init() {
	registry.RegisterConnector(&registry.ConnectorSpec{
		Name:         "amqp",
		Summary:      "RabbitMQ (AMQP 0-9-1): a durable queue consumed with prefetch = the flow's demand (source) and confirmed publishes (sink, dead letter)",
		SourceFields: sourceFields,
		Redelivers:   true,
		SinkFields:   sinkFields,
		Source: func(ctx context.Context, cfg registry.Config, env registry.Env) (registry.Source, error) {
			return newSource(ctx, cfg, env)
		},
		Sink: func(ctx context.Context, cfg registry.Config, env registry.Env) (registry.Sink, error) {
			return newSink(ctx, cfg, env)
		},
		Check:          check,
		ValidateSource: validateURL,
		ValidateSink:   validateSink,
	})
}

var connFields = []registry.Field{
	{Name: "url", Type: registry.String,
		Doc: "amqp://user:password@host:port/vhost, amqps:// for TLS (default: $AMQP_URL, else " + defaultURL + ")"},
	{Name: "user", Type: registry.String, Doc: "user name, e.g. \"${AMQP_USER}\" (overrides the url's)"},
	{Name: "password", Type: registry.String, Secret: true, Doc: "password, e.g. \"${file:/run/secrets/amqp-password}\" (overrides the url's)"},
	tlsField,
	{Name: "declare", Type: registry.Bool, Default: true,
		Doc: "declare the queue (durable) when it does not exist; off: it must exist"},
}

var sourceFields = append(append([]registry.Field{}, connFields...),
	registry.Field{Name: "queue", Type: registry.String, Target: true, Required: true, Doc: "the queue to consume"},
	registry.Field{Name: "exchange", Type: registry.String, Target: true,
		Doc: "an existing exchange to bind the queue to (with binding_key)"},
	registry.Field{Name: "binding_key", Type: registry.String, Doc: "the binding key when exchange is set (# for all on a topic exchange)"},
	registry.Field{Name: "prefetch", Type: registry.Int, Min: registry.F(1),
		Doc: "most unacknowledged deliveries out at once (default: the flow's in-flight limit)"},
	registry.Field{Name: "redelivery_delay", Type: registry.Duration, Default: 100 * time.Millisecond,
		Doc: "wait before a nacked message is requeued"},
)

var sinkFields = append(append([]registry.Field{}, connFields...),
	registry.Field{Name: "queue", Type: registry.String, Target: true,
		Doc: "the queue to publish to (through the default exchange); or use exchange"},
	registry.Field{Name: "exchange", Type: registry.String, Target: true,
		Doc: "an existing exchange to publish to, instead of a queue"},
	registry.Field{Name: "routing_key", Type: registry.String,
		Doc: "routing key with exchange (default: the message key)"},
	resend.Field,
)

// serverURL is url, else $AMQP_URL, else the local default, with user
// and password applied.
func serverURL(cfg registry.Config) (*url.URL, error) {
	raw := strings.TrimSpace(cfg.String("url"))
	if raw == "" {
		raw = os.Getenv("AMQP_URL")
	}
	if raw == "" {
		raw = defaultURL
	}
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "amqp" && u.Scheme != "amqps") {
		return nil, fmt.Errorf("url %q: want amqp://user:password@host:port/vhost, or amqps:// for TLS", redact(raw))
	}
	if user := cfg.String("user"); user != "" {
		pass, _ := u.User.Password()
		u.User = url.UserPassword(user, pass)
	}
	if pass := cfg.String("password"); pass != "" {
		u.User = url.UserPassword(u.User.Username(), pass)
	}
	return u, nil
}

// redact hides the password of a URL for messages.
func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparsable url)"
	}
	return u.Redacted()
}

// dial opens a connection with heartbeats, so a dead broker is noticed,
// over TLS for an amqps:// url.
func dial(cfg registry.Config, env registry.Env) (*amqp.Connection, error) {
	u, err := serverURL(cfg)
	if err != nil {
		return nil, err
	}
	tc, err := tlsFor(cfg, u)
	if err != nil {
		return nil, err
	}
	props := amqp.NewConnectionProperties()
	props.SetClientConnectionName("flowrun-" + env.Flow + "-" + env.Role)
	conn, err := amqp.DialConfig(u.String(), amqp.Config{
		Heartbeat: 10 * time.Second, Locale: "en_US", Properties: props, TLSClientConfig: tc,
		// A deadline on connecting and on the TLS and AMQP handshakes
		// (a server that never answers), lifted once the connection is open.
		Dial: amqp.DefaultDial(10 * time.Second),
	})
	if err != nil {
		return nil, explain(u, tc, err)
	}
	return conn, nil
}

// validateURL checks the url, and that tls goes with amqps://.
func validateURL(cfg registry.Config) error {
	u, err := serverURL(cfg)
	if err != nil {
		return registry.At(err, "url")
	}
	if u.Scheme == "amqp" && cfg.Object("tls") != nil {
		return errPlainWithTLS()
	}
	return nil
}

// declareQueue makes sure the queue exists: declared durable, or (with
// declare off) looked up passively.
func declareQueue(ch *amqp.Channel, queue string, declare bool) error {
	var err error
	if declare {
		_, err = ch.QueueDeclare(queue, true, false, false, false, nil)
	} else {
		_, err = ch.QueueDeclarePassive(queue, true, false, false, false, nil)
	}
	var aerr *amqp.Error
	if errors.As(err, &aerr) && aerr.Code == amqp.AccessRefused {
		return fmt.Errorf("authorization failure: the user may not use queue %q (%w); ask for the configure, write and read permissions on it (rabbitmqctl set_permissions)", queue, err)
	}
	if err != nil {
		if declare {
			return fmt.Errorf("declaring queue %q: %w (does it exist with other settings?)", queue, err)
		}
		return fmt.Errorf("queue %q: %w; create it or set declare: true", queue, err)
	}
	return nil
}

// validateSink checks the url and that exactly one of queue and exchange is set.
func validateSink(cfg registry.Config) error {
	if err := validateURL(cfg); err != nil {
		return err
	}
	queue, exchange := cfg.String("queue"), cfg.String("exchange")
	switch {
	case queue == "" && exchange == "":
		return registry.At(fmt.Errorf("set queue (publish to a queue) or exchange (publish to an exchange)"), "queue")
	case queue != "" && exchange != "":
		return registry.At(fmt.Errorf("set queue or exchange, not both (bind the queue to the exchange instead)"), "exchange")
	}
	return nil
}
