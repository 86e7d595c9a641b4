package kafka

import (
	"context"
	"fmt"
	"strings"
	"sync"

	"github.com/flowrun/flowrun/expression"
	"github.com/flowrun/flowrun/message"
	"github.com/flowrun/flowrun/registry"
)

// maxTopicName is the longest topic name Kafka accepts.
const maxTopicName = 249

// checkTopicName tells why name cannot be a Kafka topic, nil if it can:
// 1 to 249 of a-z A-Z 0-9 . _ -, and neither "." nor "..".
func checkTopicName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("the topic is empty")
	case name == "." || name == "..":
		return fmt.Errorf("%q is not a valid topic name", name)
	case len(name) > maxTopicName:
		return fmt.Errorf("topic %.40q... is %d characters, Kafka allows %d", name, len(name), maxTopicName)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fmt.Errorf("topic %q holds %q; Kafka topic names are made of a-z, A-Z, 0-9, '.', '_' and '-'", name, c)
		}
	}
	return nil
}

// sinkTopics checks that a sink has exactly one of topic (a fixed name)
// and topic_expr (an expression), and that topic is a topic name: an
// expression written in topic gets told to move to topic_expr.
func sinkTopics(cfg registry.Config) error {
	topic, expr := cfg.String("topic"), cfg.Expr("topic_expr")
	switch {
	case topic != "" && expr != nil:
		return registry.At(fmt.Errorf("topic and topic_expr are both set; keep one"), "topic_expr")
	case topic == "" && expr == nil:
		return registry.At(fmt.Errorf("no topic: set topic (a fixed topic name) or topic_expr (an expression giving each message's topic)"), "topic")
	case topic != "":
		if err := checkTopicName(topic); err != nil {
			return registry.At(fmt.Errorf("%w; to compute the topic per message, write the expression in topic_expr: topic_expr: '%s'",
				err, strings.ReplaceAll(topic, "'", "''")), "topic")
		}
	}
	return nil
}

// topicOf evaluates the sink's topic_expr on messages, one *registry.Exec
// per concurrent Write (an Exec is not shared between goroutines).
type topicOf struct {
	expr  *expression.Program
	execs sync.Pool
}

func newTopicOf(expr *expression.Program, env registry.Env) *topicOf {
	t := &topicOf{expr: expr}
	t.execs.New = func() any { return registry.NewExec(context.Background(), env.Flow, env.Codec, env.LoggerOrDiscard()) }
	return t
}

// topics fills topic[i] for every message, or errs[i] when its topic
// cannot be computed or is not a topic name (sending again cannot mend
// that: the write marks it permanent).
func (t *topicOf) topics(ctx context.Context, msgs []*message.Message, topic []string, errs []error) {
	x := t.execs.Get().(*registry.Exec)
	defer t.execs.Put(x)
	x.Ctx = ctx
	for i, m := range msgs {
		name, err := x.EvalString(t.expr, m)
		if err == nil {
			err = checkTopicName(name)
		}
		if err != nil {
			errs[i] = fmt.Errorf("message %s: topic_expr %s: %w", m.ID, strings.TrimSpace(t.expr.Source), err)
			continue
		}
		topic[i] = name
	}
}
