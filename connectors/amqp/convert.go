package amqp

import (
	"fmt"
	"strings"

	wamqp "github.com/ThreeDotsLabs/watermill-amqp/v3/pkg/amqp"
	wmessage "github.com/ThreeDotsLabs/watermill/message"
	"github.com/flowrun/flowrun/message"
	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"
)

// marshaler is watermill-amqp's: metadata as headers, the id in the
// watermill uuid header, persistent delivery.
var marshaler = wamqp.DefaultMarshaler{}

// properties maps metadata names to the AMQP properties they carry.
var properties = []struct {
	meta string
	get  func(*amqp.Publishing) *string
}{
	{"amqp_content_type", func(p *amqp.Publishing) *string { return &p.ContentType }},
	{"amqp_correlation_id", func(p *amqp.Publishing) *string { return &p.CorrelationId }},
	{"amqp_reply_to", func(p *amqp.Publishing) *string { return &p.ReplyTo }},
	{"amqp_type", func(p *amqp.Publishing) *string { return &p.Type }},
	{"amqp_app_id", func(p *amqp.Publishing) *string { return &p.AppId }},
}

// toPublishing converts m: metadata as headers (amqp_* entries as
// properties instead), the key header, and publishID as message-id so a
// returned message can be told apart.
func toPublishing(m *message.Message, publishID string) (amqp.Publishing, error) {
	id := m.ID
	if id == "" {
		id = uuid.NewString()
	}
	wm := wmessage.NewMessage(id, m.Body)
	wm.Metadata = make(wmessage.Metadata, len(m.Meta))
	for k, v := range m.Meta {
		if !strings.HasPrefix(k, "amqp_") {
			wm.Metadata[k] = v
		}
	}
	p, err := marshaler.Marshal(wm)
	if err != nil {
		return p, err
	}
	for _, prop := range properties {
		if v, ok := m.Meta[prop.meta]; ok {
			*prop.get(&p) = v
		}
	}
	if m.Key != "" {
		p.Headers[keyHeader] = m.Key
	}
	p.MessageId = publishID
	return p, nil
}

// toMessage reads a delivery following the package conventions.
func toMessage(queue string, d *amqp.Delivery) *message.Message {
	m := &message.Message{Topic: queue, Raw: d.Body, Meta: make(map[string]string, len(d.Headers)+2)}
	for k, v := range d.Headers {
		s, ok := v.(string)
		if !ok {
			s = fmt.Sprint(v)
		}
		switch k {
		case wamqp.DefaultMessageUUIDHeaderKey:
			m.ID = s
		case keyHeader:
			m.Key = s
		default:
			m.Meta[k] = s
		}
	}
	pub := amqp.Publishing{ContentType: d.ContentType, CorrelationId: d.CorrelationId, ReplyTo: d.ReplyTo, Type: d.Type, AppId: d.AppId}
	for _, prop := range properties {
		if v := *prop.get(&pub); v != "" {
			m.Meta[prop.meta] = v
		}
	}
	m.Meta["amqp_exchange"], m.Meta["amqp_routing_key"] = d.Exchange, d.RoutingKey
	if m.ID == "" {
		m.ID = d.MessageId
	}
	if m.ID == "" {
		m.ID = uuid.NewString()
	}
	return m
}
