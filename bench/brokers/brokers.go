package main

import (
	"context"
	"database/sql"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
	amqp "github.com/rabbitmq/amqp091-go"
	goredis "github.com/redis/go-redis/v9"
)

// broker is one connector under test: the values of a fresh destination
// (as a flow file gives them) and how to remove it afterwards.
type broker struct {
	name string
	// dest returns source and sink values of a new destination and a
	// function removing it.
	dest func() (src, snk map[string]any, cleanup func(), err error)
	// producerDuringRead: the source cannot be pre-loaded (a webhook);
	// the messages are written while the flow reads.
	producerDuringRead bool
}

func suffix() string { return strings.ReplaceAll(uuid.NewString()[:13], "-", "") }

var brokers = []broker{
	{name: "nats", dest: func() (map[string]any, map[string]any, func(), error) {
		name := "bench_" + suffix()
		src := map[string]any{"stream": name, "subject": name + ".in", "durable": "bench"}
		return src, map[string]any{"stream": name, "subject": name + ".in"}, func() {
			nc, err := nats.Connect(nats.DefaultURL)
			if err != nil {
				return
			}
			defer nc.Close()
			js, _ := jetstream.New(nc)
			_ = js.DeleteStream(context.Background(), name)
		}, nil
	}},
	{name: "redis", dest: func() (map[string]any, map[string]any, func(), error) {
		stream := "bench-" + suffix()
		return map[string]any{"stream": stream, "group": "bench"}, map[string]any{"stream": stream}, func() {
			c := goredis.NewClient(&goredis.Options{Addr: "127.0.0.1:6379"})
			defer c.Close()
			c.Del(context.Background(), stream)
		}, nil
	}},
	{name: "amqp", dest: func() (map[string]any, map[string]any, func(), error) {
		queue := "bench-" + suffix()
		return map[string]any{"queue": queue}, map[string]any{"queue": queue}, func() {
			conn, err := amqp.Dial("amqp://guest:guest@127.0.0.1:5672/")
			if err != nil {
				return
			}
			defer conn.Close()
			if ch, err := conn.Channel(); err == nil {
				_, _ = ch.QueueDelete(queue, false, false, false)
			}
		}, nil
	}},
	{name: "postgres", dest: func() (map[string]any, map[string]any, func(), error) {
		topic := "bench_" + suffix()
		return map[string]any{"topic": topic, "group": "bench", "poll_interval": 10 * time.Millisecond}, map[string]any{"topic": topic}, func() {
			db, err := sql.Open("pgx", "postgres://postgres@127.0.0.1:5432/test?sslmode=disable")
			if err != nil {
				return
			}
			defer db.Close()
			_, _ = db.Exec(fmt.Sprintf(`DROP TABLE IF EXISTS "watermill_%s", "watermill_offsets_%s"`, topic, topic))
		}, nil
	}},
	{name: "http", producerDuringRead: true, dest: func() (map[string]any, map[string]any, func(), error) {
		addr, err := freeAddr()
		if err != nil {
			return nil, nil, nil, err
		}
		src := map[string]any{"address": addr, "path": "/in"}
		return src, map[string]any{"url": "http://" + addr + "/in", "parallel": 64}, func() {}, nil
	}},
}

func freeAddr() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// okServer is the HTTP sink's destination: it answers 200 to everything.
func okServer() (url string, stop func(), err error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }() // owned: ends on Close
	return "http://" + ln.Addr().String() + "/", func() { _ = srv.Close() }, nil
}
