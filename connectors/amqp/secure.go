package amqp

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"syscall"
	"time"

	"github.com/flowrun/flowrun/connectors/internal/tlsconf"
	"github.com/flowrun/flowrun/registry"
	amqp "github.com/rabbitmq/amqp091-go"
)

var tlsField = func() registry.Field {
	f := tlsconf.Field("server")
	f.Doc = "certificates for an amqps:// url (CA, client certificate for mutual TLS, server name); without it amqps:// trusts the system's certificate authorities"
	return f
}()

// tlsFor is the TLS configuration of an amqps:// url, nil for amqp://.
func tlsFor(cfg registry.Config, u *url.URL) (*tls.Config, error) {
	tc, err := tlsconf.FromConfig(cfg)
	switch {
	case err != nil:
		return nil, err
	case u.Scheme == "amqp" && tc != nil:
		return nil, errPlainWithTLS()
	case u.Scheme == "amqps" && tc == nil:
		tc = &tls.Config{MinVersion: tls.VersionTLS12}
	}
	return tc, nil
}

// errPlainWithTLS: a tls block would be ignored on a plaintext url.
func errPlainWithTLS() error {
	return registry.At(fmt.Errorf("tls is set but the url is amqp://, which is plaintext; use amqps:// (RabbitMQ's TLS port is 5671 by default)"), "tls")
}

// explain says why connecting to the server at u failed: cannot
// resolve or connect, TLS, authentication (user, password, mechanism)
// or authorization (the vhost), in words that say what to change.
func explain(u *url.URL, tc *tls.Config, err error) error {
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), map[string]string{"amqp": "5672", "amqps": "5671"}[u.Scheme])
	}
	user := fmt.Sprintf("user %q", u.User.Username())
	vhost := "/"
	if len(u.Path) > 1 {
		vhost = u.Path[1:]
	}
	if tc != nil {
		tc = tc.Clone()
		if tc.ServerName == "" {
			tc.ServerName = u.Hostname()
		}
		if p := tlsconf.Explain("RabbitMQ server", addr, tc, err); p != nil {
			return p
		}
		if closed(err) {
			if cause := handshakeCause(addr, tc); cause != nil {
				if p := tlsconf.Explain("RabbitMQ server", addr, tc, cause); p != nil {
					return p
				}
			}
		}
	}
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.Is(err, amqp.ErrCredentials):
		return fmt.Errorf("authentication failure: RabbitMQ server %s refused %s and its password (%w); check user and password (or the url's)", addr, user, err)
	case errors.Is(err, amqp.ErrSASL):
		return fmt.Errorf("authentication failure: RabbitMQ server %s offers no login mechanism flowrun has (PLAIN, AMQPLAIN) (%w); enable PLAIN on the server", addr, err)
	case errors.Is(err, amqp.ErrVhost):
		return fmt.Errorf("authorization failure: %s may not use vhost %q on RabbitMQ server %s, or it does not exist (%w); ask for rabbitmqctl set_permissions -p %s %s ..., or fix the url's vhost",
			user, vhost, addr, err, vhost, u.User.Username())
	case errors.As(err, &dnsErr):
		return fmt.Errorf("cannot resolve %q (RabbitMQ server %s): %w; check the url's host and DNS", u.Hostname(), addr, err)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Errorf("cannot reach RabbitMQ at %s: %w; is rabbitmq-server running there, and is the port reachable?", u.Redacted(), err)
	case tc == nil && (closed(err) || errors.Is(err, amqp.ErrCommandInvalid)):
		// ErrCommandInvalid: amqp091 saw its reader end before an answer.
		return fmt.Errorf("RabbitMQ server %s closed the connection before the AMQP handshake (%w); if that port wants TLS, use an amqps:// url", addr, err)
	}
	return fmt.Errorf("cannot reach RabbitMQ at %s: %w", u.Redacted(), err)
}

// refused explains an operation a channel was refused: the user lacks
// the permission on that queue or exchange.
func refused(what string, u *url.URL, err error) error {
	var aerr *amqp.Error
	if errors.As(err, &aerr) && aerr.Code == amqp.AccessRefused {
		return fmt.Errorf("authorization failure: user %q may not use %s (%w); ask for the configure, write or read permission on it (rabbitmqctl set_permissions)", u.User.Username(), what, err)
	}
	return nil
}

// handshakeCause finds why a TLS server closed the connection while it
// opened: under TLS 1.3 a refused client certificate arrives as an
// alert only at the first read, and amqp091 may report just "closed"
// when the alert came before it sent its first frame. It connects
// again, sends the AMQP protocol header and reads the answer.
func handshakeCause(addr string, tc *tls.Config) error {
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return err
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	c := tls.Client(conn, tc)
	if _, err := c.Write([]byte("AMQP\x00\x00\x09\x01")); err != nil { // handshakes first
		return err
	}
	_, err = c.Read(make([]byte, 1))
	return err
}

// closed reports a connection the server ended. amqp091 reports a
// read that failed while opening as a frame error holding only the
// cause's text.
func closed(err error) bool {
	var aerr *amqp.Error
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, net.ErrClosed) || errors.Is(err, amqp.ErrClosed) ||
		errors.As(err, &aerr) && aerr.Code == amqp.FrameError
}
