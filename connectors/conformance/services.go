package conformance

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"syscall"
	"time"
)

// The services on this machine, stopped and started with the commands
// that started them (.ci/run starts any that is down the same way).
// Other tests may use them at the same moment: only the broker-restart
// tests, behind the integration build tag, call these.

// NATSService is nats-server with JetStream on 127.0.0.1:4222. It has
// no control command: Stop signals the process that listens on 4222.
func NATSService() *Service {
	return &Service{
		Name: "nats-server",
		Stop: func() error {
			pid, err := listenerPID(4222)
			if err != nil {
				return err
			}
			if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
				return fmt.Errorf("signal nats-server (pid %d): %w", pid, err)
			}
			return waitPort("127.0.0.1:4222", false, 30*time.Second)
		},
		Start: func() error {
			if err := run("start-stop-daemon --start --oknodo --background --exec /usr/sbin/nats-server -- -a 127.0.0.1 -p 4222 -js -sd /var/lib/nats-server -l /var/log/nats-server.log"); err != nil {
				return err
			}
			return waitPort("127.0.0.1:4222", true, 60*time.Second)
		},
	}
}

// RedisService is redis-server on 6379, run without persistence: Stop
// saves a snapshot (SHUTDOWN SAVE) that Start loads and then removes,
// so the restart keeps the streams, as a persistent Redis would.
func RedisService() *Service {
	const dump = "/var/lib/redis/dump.rdb"
	return &Service{
		Name: "redis-server",
		Stop: func() error {
			if err := run("redis-cli -h 127.0.0.1 -p 6379 shutdown save"); err != nil && portOpen("127.0.0.1:6379") {
				return err
			}
			return waitPort("127.0.0.1:6379", false, 30*time.Second)
		},
		Start: func() error {
			if err := run(`redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no --dir /var/lib/redis --logfile /var/log/redis/ci.log`); err != nil {
				return err
			}
			if err := waitPort("127.0.0.1:6379", true, 60*time.Second); err != nil {
				return err
			}
			for range 100 { // answers PING only once the snapshot is loaded
				if exec.Command("redis-cli", "-p", "6379", "ping").Run() == nil {
					break
				}
				time.Sleep(100 * time.Millisecond)
			}
			if err := os.Remove(dump); err != nil && !os.IsNotExist(err) {
				return fmt.Errorf("remove the restart snapshot: %w", err)
			}
			return nil
		},
	}
}

// RabbitMQService is the RabbitMQ node on 5672.
func RabbitMQService() *Service {
	return &Service{
		Name: "rabbitmq-server",
		Stop: func() error {
			if err := run("rabbitmqctl stop"); err != nil {
				return err
			}
			return waitPort("127.0.0.1:5672", false, 60*time.Second)
		},
		Start: func() error {
			if err := run("rabbitmq-server -detached"); err != nil {
				return err
			}
			if err := waitPort("127.0.0.1:5672", true, 120*time.Second); err != nil {
				return err
			}
			return run("rabbitmqctl await_startup --timeout 120")
		},
	}
}

// PostgresService is the PostgreSQL cluster on 5432.
func PostgresService() *Service {
	return &Service{
		Name: "postgresql",
		Stop: func() error {
			if err := run("pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main stop -m fast"); err != nil {
				return err
			}
			return waitPort("127.0.0.1:5432", false, 60*time.Second)
		},
		Start: func() error {
			if err := run("pg_ctlcluster --skip-systemctl-redirect $(ls /etc/postgresql) main start"); err != nil {
				return err
			}
			return waitPort("127.0.0.1:5432", true, 60*time.Second)
		},
	}
}

var pidOf = regexp.MustCompile(`pid=(\d+)`)

// listenerPID is the process listening on a local TCP port.
func listenerPID(port int) (int, error) {
	out, err := exec.Command("ss", "-Hltnp", "sport = :"+strconv.Itoa(port)).Output()
	if err != nil {
		return 0, fmt.Errorf("ss: %w", err)
	}
	m := pidOf.FindSubmatch(out)
	if m == nil {
		return 0, fmt.Errorf("no process listens on port %d", port)
	}
	return strconv.Atoi(string(m[1]))
}

func portOpen(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond)
	if err != nil {
		return false
	}
	_ = c.Close()
	return true
}

// waitPort waits until addr accepts connections (up) or refuses them.
func waitPort(addr string, up bool, wait time.Duration) error {
	deadline := time.Now().Add(wait)
	for portOpen(addr) != up {
		if time.Now().After(deadline) {
			state := "up"
			if !up {
				state = "down"
			}
			return fmt.Errorf("%s not %s after %s: %w", addr, state, wait, errTimeout)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return nil
}
