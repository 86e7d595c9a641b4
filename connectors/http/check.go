package http

import (
	"context"
	"fmt"
	"net"
	"net/url"

	"github.com/flowrun/flowrun/registry"
)

// check is `flowrun validate --connect`: a source checks that its
// address is free and its certificate loads; a sink that the server
// accepts connections (no request is sent).
func check(ctx context.Context, cfg registry.Config, env registry.Env) error {
	if env.Role == "source" {
		if _, err := serverTLS(cfg); err != nil {
			return err
		}
		ln, err := net.Listen("tcp", cfg.String("address"))
		if err != nil {
			return fmt.Errorf("cannot listen on %s: %w; is another process using it?", cfg.String("address"), err)
		}
		return ln.Close()
	}
	u, err := url.Parse(cfg.String("url"))
	if err != nil || u.Host == "" {
		return fmt.Errorf("url %q: want http://host[:port]/path", withoutUserinfo(cfg.String("url")))
	}
	host := u.Host
	if u.Port() == "" {
		port := "80"
		if u.Scheme == "https" {
			port = "443"
		}
		host = net.JoinHostPort(u.Hostname(), port)
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", host)
	if err != nil {
		return fmt.Errorf("cannot reach %s: %w", u.Redacted(), err)
	}
	return conn.Close()
}
