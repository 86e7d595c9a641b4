package postgres

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/flowrun/flowrun/connectors/internal/tlsconf"
	"github.com/jackc/pgx/v5/pgconn"
)

// explain says why connecting to the server failed, in words that say
// what to change: cannot connect, TLS, authentication (password, client
// certificate, pg_hba.conf) or authorization (no access to the
// database).
func explain(pc *pgconn.Config, err error) error {
	addr := net.JoinHostPort(pc.Host, strconv.Itoa(int(pc.Port)))
	if p := tlsconf.Explain("PostgreSQL server", addr, pc.TLSConfig, err); p != nil {
		return p
	}
	var pgErr *pgconn.PgError
	var dnsErr *net.DNSError
	var opErr *net.OpError
	switch {
	case errors.As(err, &pgErr):
		return serverRefused(addr, pc, pgErr, err)
	case errors.As(err, &dnsErr):
		return fmt.Errorf("cannot resolve %q (PostgreSQL server %s): %w; check the dsn's host and DNS", pc.Host, addr, err)
	case strings.Contains(err.Error(), "server refused TLS connection"):
		return fmt.Errorf("TLS failure: PostgreSQL server %s does not accept TLS (ssl = off) (%w); turn ssl on in postgresql.conf, or set sslmode: disable", addr, err)
	case errors.As(err, &opErr) && opErr.Op == "dial":
		return fmt.Errorf("cannot reach PostgreSQL at %s: %w; is it running there, and is the port reachable?", addr, err)
	}
	return fmt.Errorf("cannot reach PostgreSQL at %s: %w; is it running, and does the database exist?", addr, err)
}

// serverRefused explains an error the server sent while connecting.
func serverRefused(addr string, pc *pgconn.Config, pgErr *pgconn.PgError, err error) error {
	user := fmt.Sprintf("user %q", pc.User)
	switch pgErr.Code {
	case "28P01": // invalid_password
		return fmt.Errorf("authentication failure: PostgreSQL server %s refused %s and its password (%w); check password (or the dsn's)", addr, user, err)
	case "28000": // invalid_authorization_specification: pg_hba.conf said no
		msg := pgErr.Message
		switch {
		case strings.Contains(msg, "no encryption"):
			return fmt.Errorf("authentication failure: PostgreSQL server %s accepts %s only over TLS (%w); set sslmode: verify-full and tls.ca_file", addr, user, err)
		case strings.Contains(msg, "certificate"):
			return fmt.Errorf("authentication failure: PostgreSQL server %s wants a valid client certificate for %s (%w); set tls.cert_file and tls.key_file to a certificate whose common name is the user, signed by a CA the server trusts", addr, user, err)
		}
		return fmt.Errorf("authentication failure: PostgreSQL server %s refused %s (%w); check the user, and the server's pg_hba.conf", addr, user, err)
	case "3D000": // invalid_catalog_name
		return fmt.Errorf("database %q does not exist on PostgreSQL server %s (%w); create it or fix the dsn", pc.Database, addr, err)
	case "42501": // insufficient_privilege
		return fmt.Errorf("authorization failure: %s may not connect to database %q on %s (%w); ask for GRANT CONNECT ON DATABASE %s TO %s", user, pc.Database, addr, err, pc.Database, pc.User)
	}
	return fmt.Errorf("PostgreSQL server %s refused the connection of %s: %w", addr, user, err)
}
