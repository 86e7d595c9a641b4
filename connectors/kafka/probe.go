package kafka

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"syscall"
	"time"

	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/connectors/internal/tlsconf"
)

// probe connects to one broker step by step (resolve, TCP, TLS, SASL)
// so validate --connect says which step failed in words a user acts on;
// Sarama's client only reports "out of brokers" and logs the cause.
func probe(ctx context.Context, addr string, sc *sarama.Config) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("broker address %q: %w; write it as host:port", addr, err)
	}
	if _, err := net.DefaultResolver.LookupHost(ctx, host); err != nil {
		return fmt.Errorf("cannot resolve %q (broker %s): %w; check the broker address and DNS", host, addr, err)
	}
	d := net.Dialer{Timeout: sc.Net.DialTimeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot connect to broker %s: %w; is Kafka running there, and is the port reachable? (`flowrun broker` starts one for development)", addr, err)
	}
	if sc.Net.TLS.Enable {
		tc := sc.Net.TLS.Config.Clone()
		if tc.ServerName == "" {
			tc.ServerName = host
		}
		// A plaintext broker waits for a request and never answers a
		// ClientHello: bound the wait.
		_ = conn.SetDeadline(time.Now().Add(sc.Net.DialTimeout))
		tconn := tls.Client(conn, tc)
		err := tconn.HandshakeContext(ctx)
		tconn.Close()
		if err != nil {
			return tlsProblem(addr, tc, err)
		}
	} else {
		conn.Close()
	}
	if sc.Net.SASL.Enable {
		// Brokers answer ApiVersions before authentication: if that works
		// and SASL then fails, the credentials or mechanism are wrong.
		anon := *sc
		anon.Net.SASL.Enable = false
		if err := open(addr, &anon); err != nil {
			return saslProblem(addr, &anon, err)
		}
	}
	if err := open(addr, sc); err != nil {
		return saslProblem(addr, sc, err)
	}
	return nil
}

// open opens one connection to addr with sc, and closes it.
func open(addr string, sc *sarama.Config) error {
	br := sarama.NewBroker(addr)
	if err := br.Open(sc); err != nil {
		return err
	}
	defer br.Close()
	_, err := br.Connected()
	return err
}

// tlsProblem explains a failed TLS handshake.
func tlsProblem(addr string, tc *tls.Config, err error) error {
	if p := tlsconf.Explain("broker", addr, tc, err); p != nil {
		return p
	}
	return fmt.Errorf("TLS failure with broker %s: %w", addr, err)
}

// saslProblem explains a failed connection past TLS: mostly SASL.
func saslProblem(addr string, sc *sarama.Config, err error) error {
	mech := string(sc.Net.SASL.Mechanism)
	switch {
	case errors.Is(err, sarama.ErrSASLAuthenticationFailed):
		who := "the credentials"
		if sc.Net.SASL.User != "" {
			who = fmt.Sprintf("user %q and its password", sc.Net.SASL.User)
		}
		return fmt.Errorf("authentication failure: broker %s refused %s with SASL %s (%w); check sasl.user and sasl.password", addr, who, mech, err)
	case errors.Is(err, sarama.ErrUnsupportedSASLMechanism):
		return fmt.Errorf("authentication failure: broker %s does not enable SASL mechanism %s (%w); use one it lists in sasl.enabled.mechanisms", addr, mech, err)
	case sc.Net.SASL.Enable && closed(err):
		return fmt.Errorf("authentication failure: broker %s closed the connection while authenticating user %q with SASL %s (%w); the user, the password or the mechanism is wrong (the broker does not say which)",
			addr, sc.Net.SASL.User, mech, err)
	case !sc.Net.SASL.Enable && !sc.Net.TLS.Enable:
		return fmt.Errorf("broker %s accepted the connection but not the Kafka protocol: %w; if it wants TLS or SASL, set tls and sasl", addr, err)
	}
	return fmt.Errorf("broker %s: %w", addr, err)
}

// closed reports a connection the broker ended.
func closed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed)
}

// probeTimeout bounds the probe when the check has no deadline.
const probeTimeout = 10 * time.Second

// newClient is sarama.NewClient, whose failure only says "out of
// brokers": the probe then finds which step failed (TLS, SASL...).
func newClient(brokers []string, sc *sarama.Config) (sarama.Client, error) {
	client, err := sarama.NewClient(brokers, sc)
	if err == nil {
		return client, nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
	defer cancel()
	var why []error
	for _, b := range brokers {
		perr := probe(ctx, b, sc)
		if perr == nil {
			return nil, err // reachable now: the failure passed
		}
		why = append(why, perr)
	}
	return nil, fmt.Errorf("%w: %w", err, errors.Join(why...))
}
