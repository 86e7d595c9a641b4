package kafka

import (
	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/connectors/internal/tlsconf"
	"github.com/flowrun/flowrun/registry"
)

var tlsField = tlsconf.Field("broker")

// applyTLS turns on TLS when the tls object is given.
func applyTLS(sc *sarama.Config, cfg registry.Config) error {
	tc, err := tlsconf.FromConfig(cfg)
	if err != nil || tc == nil {
		return err
	}
	sc.Net.TLS.Enable = true
	sc.Net.TLS.Config = tc
	return nil
}
