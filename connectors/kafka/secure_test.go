package kafka_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/flowrun/flowrun/compiler"
	"github.com/flowrun/flowrun/connectors/internal/testcert"
	"github.com/flowrun/flowrun/connectors/kafka/broker"
	"github.com/flowrun/flowrun/internal/poll"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// secureBroker is an in-process broker that speaks only TLS and wants
// SCRAM-SHA-256 as alice.
type secureBroker struct {
	*broker.Cluster
	certs    testcert.Files
	password string
}

func startSecureBroker(t *testing.T) *secureBroker {
	t.Helper()
	certs := testcert.New(t, testcert.Options{})
	const password = "s3cret:with-colon"
	c, err := broker.Start(broker.Options{Addr: "127.0.0.1:0", TLSCert: certs.Cert, TLSKey: certs.Key,
		Users: []broker.User{{Mechanism: "SCRAM-SHA-256", Name: "alice", Password: password}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &secureBroker{Cluster: c, certs: certs, password: password}
}

// client is a franz-go client that trusts the test CA and logs in.
func (b *secureBroker) client(t *testing.T, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	pem, err := os.ReadFile(b.certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(b.Addr()),
		kgo.DialTLSConfig(&tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: "alice", Pass: b.password}.AsSha256Mechanism()),
		kgo.AllowAutoTopicCreation()}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// passwordFile writes the password as a mounted Kubernetes Secret holds it.
func (b *secureBroker) passwordFile(t *testing.T) string {
	p := filepath.Join(t.TempDir(), "kafka-password")
	if err := os.WriteFile(p, []byte(b.password+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

// securityYAML is the tls and sasl settings of a flowrun connector.
func (b *secureBroker) securityYAML(t *testing.T) string {
	return fmt.Sprintf(`tls: {ca_file: %q}, sasl: {mechanism: SCRAM-SHA-256, user: alice, password: "${file:%s}"}`,
		b.certs.CA, b.passwordFile(t))
}

// A flow reads from and writes to a TLS + SCRAM-SHA-256 broker with the
// password in a file: every message arrives, exactly once.
func TestFlowOverTLSAndSCRAM(t *testing.T) {
	b := startSecureBroker(t)
	const n = 300
	in := b.client(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var recs []*kgo.Record
	for i := range n {
		recs = append(recs, &kgo.Record{Topic: "secure.in", Key: fmt.Appendf(nil, "k%d", i%7), Value: fmt.Appendf(nil, `{"id":%d}`, i)})
	}
	if err := in.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatalf("produce over TLS+SCRAM: %v", err)
	}
	sec := b.securityYAML(t)
	f := startFlow(t, b.Addr(), fmt.Sprintf(`
version: 1
name: secure
source:
  kafka: {brokers: ["$BROKER"], topic: secure.in, group: secure, %[1]s}
stages:
  - set: {seen: true}
sink:
  kafka: {brokers: ["$BROKER"], topic: secure.out, %[1]s}
dead_letter:
  kafka: {brokers: ["$BROKER"], topic: secure.dlq, %[1]s}
`, sec))
	out := b.client(t, kgo.ConsumeTopics("secure.out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []string
	for len(got) < n && ctx.Err() == nil {
		out.PollFetches(ctx).EachRecord(func(r *kgo.Record) { got = append(got, string(r.Key)+" "+string(r.Value)) })
	}
	poll.Until(t, "every message acked", 30*time.Second, func() bool {
		acked, _ := metric(t, f.reg, "flowrun_messages_total", map[string]string{"outcome": "acked"})
		return acked == n
	})
	sum := f.stop()
	if sum.In != n || sum.Acked != n {
		t.Fatalf("summary %+v, want %d in and acked", sum, n)
	}
	var want []string
	for i := range n {
		want = append(want, fmt.Sprintf(`k%d {"id":%d,"seen":true}`, i%7, i))
	}
	sort.Strings(got)
	sort.Strings(want)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("secure.out holds %d records, want exactly %d:\n got %v\nwant %v", len(got), n, got, want)
	}
}

// insecure_skip_verify is allowed with a warning; a missing CA file is
// an error at its line.
func TestValidateTLSSettings(t *testing.T) {
	path := filepath.Join(t.TempDir(), "flow.yaml")
	src := `version: 1
name: tls
source: {kafka: {brokers: ["b:9093"], topic: in}}
sink:
  kafka: {brokers: ["b:9093"], topic: t, tls: {insecure_skip_verify: true}}
dead_letter:
  kafka:
    brokers: ["b:9093"]
    topic: dlq
    tls: {ca_file: /no/such/ca.pem}
`
	if err := os.WriteFile(path, []byte(src), 0o600); err != nil {
		t.Fatal(err)
	}
	_, ds := compiler.CompileFile(path)
	if len(ds) != 1 || ds[0].Pos.Line != 10 || ds[0].Path != "dead_letter.kafka.tls.ca_file" ||
		!strings.Contains(ds[0].Message, "tls.ca_file: open /no/such/ca.pem: no such file or directory") {
		t.Fatalf("diagnostics %v", ds)
	}
	if err := os.WriteFile(path, []byte(strings.ReplaceAll(src, "tls: {ca_file: /no/such/ca.pem}", "tls: {}")), 0o600); err != nil {
		t.Fatal(err)
	}
	flow, ds := compiler.CompileFile(path)
	if flow == nil {
		t.Fatalf("compile: %v", ds)
	}
	if len(flow.Warnings) != 1 || flow.Warnings[0].Path != "sink.kafka.tls.insecure_skip_verify" ||
		!strings.Contains(flow.Warnings[0].Message, "accepts any certificate") {
		t.Fatalf("warnings %v", flow.Warnings)
	}
}
