package kafka

import (
	"fmt"

	"github.com/IBM/sarama"
)

// hashPartition is the partition sarama.NewHashPartitioner picks for a
// key among n: FNV-1a of the key, taken as a signed 32-bit number modulo
// n, made positive. Watermill and other Sarama programs put keys there.
func hashPartition(key []byte, n int32) int32 {
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

// assign picks the partition of every record: a keyed one where Sarama's
// hash partitioner puts its key, the keyless ones of this write all on
// one partition (large batches; the next write takes the next one).
func (w *write) assign(todo []int) error {
	s := w.s
	parts, err := s.client.Partitions(s.topic)
	if err == nil && len(parts) == 0 {
		err = sarama.ErrLeaderNotAvailable
	}
	if err != nil {
		return fmt.Errorf("partitions of the topic: %w", err)
	}
	keyless := int32(-1)
	for _, i := range todo {
		if key := w.recs[i].Key; key != nil {
			w.part[i] = parts[hashPartition(key, int32(len(parts)))]
			continue
		}
		if keyless < 0 {
			choice := parts
			if writable, err := s.client.WritablePartitions(s.topic); err == nil && len(writable) > 0 {
				choice = writable
			}
			keyless = choice[int(s.keyless.Add(1)%uint32(len(choice)))]
		}
		w.part[i] = keyless
	}
	w.assigned = true
	return nil
}
