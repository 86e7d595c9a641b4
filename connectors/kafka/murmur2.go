package kafka

// murmur2 is the hash Kafka's Java client partitions keys with
// (org.apache.kafka.common.utils.Utils.murmur2): MurmurHash2 with Kafka's
// seed, little-endian words. Java returns it as a signed int; the bits
// are the same.
func murmur2(data []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	h := uint32(seed) ^ uint32(len(data))
	for len(data) >= 4 {
		k := uint32(data[0]) | uint32(data[1])<<8 | uint32(data[2])<<16 | uint32(data[3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
		data = data[4:]
	}
	switch len(data) {
	case 3:
		h ^= uint32(data[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(data[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(data[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}

// murmur2Partition is the partition Kafka's Java DefaultPartitioner (and
// librdkafka's murmur2 partitioner, Kafka Streams, ksqlDB) picks for a
// key among n: the hash with its sign bit cleared, modulo n.
func murmur2Partition(key []byte, n int32) int32 {
	return int32(murmur2(key)&0x7fffffff) % n
}
