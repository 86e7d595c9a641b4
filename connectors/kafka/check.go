package kafka

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/IBM/sarama"
	"github.com/flowrun/flowrun/registry"
)

// check is `flowrun validate --connect`: it reaches the brokers and
// checks that every topic exists, or that the broker will create it on
// first use. It neither consumes nor produces.
func check(ctx context.Context, cfg registry.Config, env registry.Env) error {
	brokers, err := brokerList(cfg)
	if err != nil {
		return err
	}
	var topics []string // a sink with topic_expr names its topics only per message
	if t := cfg.String("topic"); t != "" {
		topics = []string{t}
	}
	if env.Role == "source" {
		if topics, err = sourceTopics(cfg); err != nil {
			return err
		}
		if _, err := sourceConfig(cfg, env); err != nil {
			return err
		}
	}
	sc, err := baseConfig(cfg)
	if err != nil {
		return err
	}
	sc.Metadata.AllowAutoTopicCreation = false // looking must not create
	sc.Metadata.Retry.Max = 1
	sc.Net.DialTimeout = 5 * time.Second
	if deadline, ok := ctx.Deadline(); ok {
		sc.Net.DialTimeout = min(sc.Net.DialTimeout, max(time.Until(deadline), time.Millisecond))
	}

	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, probeTimeout)
		defer cancel()
	}
	var probeErrs []error
	for _, b := range brokers {
		err := probe(ctx, b, sc)
		if err == nil {
			probeErrs = nil
			break
		}
		probeErrs = append(probeErrs, err)
	}
	if len(probeErrs) > 0 {
		return errors.Join(probeErrs...)
	}

	client, err := sarama.NewClient(brokers, sc)
	if err != nil {
		return fmt.Errorf("cannot reach Kafka brokers %v: %w; is Kafka running there? (`flowrun broker` starts one for development)", brokers, err)
	}
	defer client.Close()
	if err := client.RefreshMetadata(); err != nil {
		return fmt.Errorf("kafka brokers %v: reading metadata: %w", brokers, err)
	}
	group := ""
	if env.Role == "source" {
		if group = cfg.String("group"); group == "" {
			group = env.Flow
		}
	}
	if err := checkAccess(client, sc, topics, group, env.Role); err != nil {
		return err
	}
	known, err := client.Topics()
	if err != nil {
		return fmt.Errorf("kafka brokers %v: listing topics: %w", brokers, err)
	}
	exists := map[string]bool{}
	for _, t := range known {
		exists[t] = true
	}
	for _, topic := range topics {
		if exists[topic] {
			continue
		}
		switch autoCreate(client) {
		case "false":
			return fmt.Errorf("topic %q does not exist on brokers %v and they do not create topics on first use (auto.create.topics.enable=false); create it first, e.g. kafka-topics.sh --create --topic %s",
				topic, brokers, topic)
		case "true":
			env.LoggerOrDiscard().Info("kafka topic does not exist yet; the broker creates it on first use", "topic", topic)
		default:
			env.LoggerOrDiscard().Warn("kafka topic does not exist yet; it works only if the broker creates topics on first use (Kafka's default, and what `flowrun broker` does)", "topic", topic)
		}
	}
	return nil
}

// autoCreate returns the broker's auto.create.topics.enable ("true",
// "false") or "" when the broker does not say.
func autoCreate(client sarama.Client) string {
	controller, err := client.Controller()
	if err != nil {
		return ""
	}
	admin, err := sarama.NewClusterAdminFromClient(client)
	if err != nil {
		return ""
	}
	// The admin shares the client; closing it would close the client too.
	entries, err := admin.DescribeConfig(sarama.ConfigResource{
		Type: sarama.BrokerResource, Name: strconv.Itoa(int(controller.ID())),
		ConfigNames: []string{"auto.create.topics.enable"},
	})
	if err != nil {
		return ""
	}
	for _, e := range entries {
		if e.Name == "auto.create.topics.enable" {
			return e.Value
		}
	}
	return ""
}
