package kafka

import (
	"errors"
	"fmt"

	"github.com/IBM/sarama"
)

// Partitioners, by the name the sink's partitioner field gives them.
const (
	partitionerMurmur2    = "murmur2"
	partitionerFNV1a      = "fnv1a"
	partitionerRoundRobin = "round_robin"
)

// keyHash is the partition of a key among n for a partitioner that
// hashes keys, nil for round_robin (which ignores them).
func keyHash(partitioner string) func(key []byte, n int32) int32 {
	switch partitioner {
	case partitionerFNV1a:
		return fnv1aPartition
	case partitionerRoundRobin:
		return nil
	}
	return murmur2Partition
}

// fnv1aPartition is the partition sarama.NewHashPartitioner picks for a
// key among n: FNV-1a of the key, taken as a signed 32-bit number modulo
// n, made positive. Watermill and other Sarama programs put keys there.
func fnv1aPartition(key []byte, n int32) int32 {
	h := uint32(2166136261)
	for _, c := range key {
		h ^= uint32(c)
		h *= 16777619
	}
	p := int32(h) % n
	if p < 0 {
		p = -p
	}
	return p
}

// assign picks the partition of every record of todo not assigned yet,
// topic by topic. With a hashing partitioner a keyed record goes where
// its key hashes, among all the topic's partitions (as Java's and
// Sarama's do, so a key keeps its partition while one is down), and the
// keyless ones of this write all go on one writable partition of their
// topic (large batches; the next write takes the next one). With
// round_robin every record takes the next writable partition.
//
// It returns the records whose topic's partitions are not known (yet),
// and why.
func (w *write) assign(todo []int) (unknown []int, err error) {
	byTopic := map[string][]int{}
	var topics []string
	for _, i := range todo {
		if w.part[i] >= 0 {
			continue
		}
		t := w.topic[i]
		if byTopic[t] == nil {
			topics = append(topics, t)
		}
		byTopic[t] = append(byTopic[t], i)
	}
	var errs []error
	for _, t := range topics {
		if e := w.assignTopic(t, byTopic[t]); e != nil {
			unknown = append(unknown, byTopic[t]...)
			errs = append(errs, e)
		}
	}
	return unknown, errors.Join(errs...)
}

// assignTopic picks the partitions of records idx, all of topic.
func (w *write) assignTopic(topic string, idx []int) error {
	s := w.s
	parts, err := s.client.Partitions(topic)
	if err == nil && len(parts) == 0 {
		err = sarama.ErrLeaderNotAvailable
	}
	if err != nil {
		return fmt.Errorf("partitions of topic %s: %w", topic, err)
	}
	writable := func() []int32 {
		if ws, err := s.client.WritablePartitions(topic); err == nil && len(ws) > 0 {
			return ws
		}
		return parts
	}
	if s.hash == nil {
		choice := writable()
		next := s.keyless.Add(uint32(len(idx))) - uint32(len(idx))
		for j, i := range idx {
			w.part[i] = choice[int((next+uint32(j))%uint32(len(choice)))]
		}
		return nil
	}
	keyless := int32(-1)
	for _, i := range idx {
		if key := w.recs[i].Key; key != nil {
			w.part[i] = parts[s.hash(key, int32(len(parts)))]
			continue
		}
		if keyless < 0 {
			choice := writable()
			keyless = choice[int(s.keyless.Add(1)%uint32(len(choice)))]
		}
		w.part[i] = keyless
	}
	return nil
}
