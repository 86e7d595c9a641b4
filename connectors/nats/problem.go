package nats

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/flowrun/flowrun/connectors/internal/tlsconf"
	"github.com/flowrun/flowrun/registry"
	"github.com/nats-io/nats.go"
)

// explain turns a failed first connection into words a user acts on:
// cannot resolve, cannot connect, TLS failure or authentication
// failure. nats.go reports a refused connection only as "no servers
// available", so that case dials each server itself to say why.
func explain(ctx context.Context, servers string, sec *security, timeout time.Duration, err error) error {
	addrs := hosts(servers)
	shown, first := strings.Join(addrs, ","), ""
	if len(addrs) > 0 {
		first = addrs[0]
	}
	if p := tlsconf.Explain("NATS server", first, sec.tls, err); p != nil {
		return p
	}
	var dns *net.DNSError
	switch {
	case errors.Is(err, nats.ErrTLS) && strings.Contains(err.Error(), "closed by remote after TLS handshake"):
		// With TLS 1.3 a server that refuses the client's certificate
		// may hang up before its alert is read; nats.go then only sees
		// the close.
		return tlsconf.ClientCertProblem("NATS server", first, sec.tls, err)
	case errors.Is(err, nats.ErrTLS):
		return fmt.Errorf("TLS failure with NATS server %s: %w", first, err)
	case errors.Is(err, nats.ErrSecureConnWanted):
		return fmt.Errorf("TLS failure: NATS server %s does not offer TLS (%w); remove tls, or give the server a tls block", first, err)
	case errors.Is(err, nats.ErrAuthorization):
		hint := "check the credentials"
		if sec.who == "a connection without credentials" {
			hint = "the server wants credentials: set user and password, token, nkey_seed_file or credentials"
		}
		return fmt.Errorf("authentication failure: NATS server %s refused %s (%w); %s", first, sec.who, err, hint)
	case errors.Is(err, nats.ErrAuthExpired), errors.Is(err, nats.ErrAuthRevoked), errors.Is(err, nats.ErrAccountAuthExpired):
		return fmt.Errorf("authentication failure: NATS server %s refused %s (%w); get new credentials from the account's operator", first, sec.who, err)
	case errors.As(err, &dns):
		return fmt.Errorf("cannot resolve %q (NATS server %s): %w; check the url and DNS", dns.Name, shown, err)
	case errors.Is(err, nats.ErrNoServers):
		var why []error
		for _, a := range addrs {
			if e := reach(ctx, a, timeout); e != nil {
				why = append(why, e)
			}
		}
		if len(why) > 0 {
			return errors.Join(why...)
		}
	}
	return fmt.Errorf("cannot reach NATS at %s: %w; is nats-server running with JetStream (-js)?", shown, err)
}

// reach resolves and dials one server.
func reach(ctx context.Context, addr string, timeout time.Duration) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("NATS server address %q: %w; write the url as nats://host:port", addr, err)
	}
	if _, err := net.DefaultResolver.LookupHost(ctx, host); err != nil {
		return fmt.Errorf("cannot resolve %q (NATS server %s): %w; check the url and DNS", host, addr, err)
	}
	d := net.Dialer{Timeout: timeout}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("cannot connect to NATS server %s: %w; is nats-server running there, and is the port reachable?", addr, err)
	}
	return conn.Close()
}

// hosts are the host:port of each server of a comma-separated url
// list, with the default port where none is given: what errors show,
// never a url's user and password.
func hosts(servers string) []string {
	var out []string
	for _, s := range strings.Split(servers, ",") {
		s = strings.TrimSpace(s)
		if !strings.Contains(s, "://") {
			s = "nats://" + s
		}
		u, err := url.Parse(s)
		if err != nil || u.Host == "" {
			continue
		}
		h := u.Host
		if u.Port() == "" {
			h = net.JoinHostPort(u.Hostname(), "4222")
		}
		out = append(out, h)
	}
	return out
}

// shown is how messages name the configured servers.
func shown(cfg registry.Config) string { return strings.Join(hosts(serverURL(cfg)), ",") }
