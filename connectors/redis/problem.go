package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/flowrun/flowrun/connectors/internal/tlsconf"
	goredis "github.com/redis/go-redis/v9"
)

// explain turns a failed first command into words a user acts on:
// cannot resolve, cannot connect, TLS failure, authentication failure.
func explain(opts *goredis.Options, err error) error {
	addr := opts.Addr
	if p := tlsconf.Explain("Redis server", addr, opts.TLSConfig, err); p != nil {
		return p
	}
	var dns *net.DNSError
	var op *net.OpError
	msg := err.Error()
	switch {
	case errors.As(err, &dns):
		return fmt.Errorf("cannot resolve %q (Redis server %s): %w; check the url and DNS", dns.Name, addr, err)
	case errors.As(err, &op) && op.Op == "dial":
		return fmt.Errorf("cannot connect to Redis server %s: %w; is redis-server running there, and is the port reachable?", addr, err)
	case opts.TLSConfig != nil && errors.Is(err, context.DeadlineExceeded):
		// Redis reads a ClientHello as an unfinished command and waits.
		return fmt.Errorf("TLS failure: Redis server %s does not speak TLS on this port: no answer to the TLS handshake within %s (%w); remove tls, or use the server's tls-port", addr, opts.DialTimeout, err)
	case strings.HasPrefix(msg, "WRONGPASS"):
		return fmt.Errorf("authentication failure: Redis server %s refused %s (%w); check username and password", addr, who(opts), err)
	case strings.HasPrefix(msg, "NOAUTH"):
		return fmt.Errorf("authentication failure: Redis server %s wants a password and got none (%w); set password (and username for an ACL user)", addr, err)
	case strings.HasPrefix(msg, "NOPERM"):
		return fmt.Errorf("authorization failure: Redis server %s does not let %s run PING (%w); its ACL needs +@connection", addr, who(opts), err)
	case closed(err) && opts.TLSConfig != nil:
		// With TLS 1.3 a server that refuses the client's certificate
		// hangs up once the handshake is over.
		return tlsconf.ClientCertProblem("Redis server", addr, opts.TLSConfig, err)
	case closed(err):
		return fmt.Errorf("the Redis server at %s closed the connection without answering (%w); if it wants TLS, set tls or use a rediss:// url", addr, err)
	}
	return fmt.Errorf("cannot reach Redis at %s: %w; is redis-server running there?", addr, err)
}

// who is the identity flowrun presented, for errors.
func who(opts *goredis.Options) string {
	if opts.Username != "" {
		return fmt.Sprintf("user %q and its password", opts.Username)
	}
	return "the default user's password"
}

// noperm explains a command the user's ACL refuses.
func noperm(opts *goredis.Options, what string, err error) error {
	if err == nil || !strings.HasPrefix(err.Error(), "NOPERM") {
		return nil
	}
	user := "the default user"
	if opts.Username != "" {
		user = fmt.Sprintf("user %q", opts.Username)
	}
	return fmt.Errorf("authorization failure: Redis server %s does not let %s %s (%w); its ACL needs the key (~pattern) and the stream commands (+@stream)", opts.Addr, user, what, err)
}

// closed reports a connection the server ended.
func closed(err error) bool {
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE)
}

// commandRefused reports an ACL that refuses the command itself, as
// opposed to the key: the connector may not need that command.
func commandRefused(err error) bool {
	return err != nil && strings.HasPrefix(err.Error(), "NOPERM") && strings.Contains(err.Error(), "permissions to run the")
}
