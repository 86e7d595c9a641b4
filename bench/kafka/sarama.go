package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/IBM/sarama"
)

// saramaLoop is bareLoop written with Sarama, the client the kafka
// connector must use (it is watermill-kafka's): a partition consumer per
// partition feeding one AsyncProducer, waiting for every broker ack. No
// consumer group, no offsets marked, no transformation: the most a
// Sarama program can do here, so the most the connector can approach.
// With produce false it only consumes: Sarama's read rate alone.
func saramaLoop(addr string, n int, produce bool) (time.Duration, error) {
	sc := sarama.NewConfig()
	sc.Consumer.IsolationLevel = sarama.ReadCommitted
	sc.Producer.RequiredAcks = sarama.WaitForAll
	sc.Producer.Return.Successes = true
	sc.Producer.Return.Errors = true
	client, err := sarama.NewClient([]string{addr}, sc)
	if err != nil {
		return 0, err
	}
	defer client.Close()
	consumer, err := sarama.NewConsumerFromClient(client)
	if err != nil {
		return 0, err
	}
	defer consumer.Close()
	// A client of its own, as the connector's sink has: produce requests
	// queued behind fetches on one connection run at half this speed.
	producer, err := sarama.NewAsyncProducer([]string{addr}, sc)
	if err != nil {
		return 0, err
	}
	defer producer.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	consumed := make(chan int, partitions)
	start := time.Now()
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	for p := range int32(partitions) {
		pc, err := consumer.ConsumePartition("payments", p, sarama.OffsetOldest)
		if err != nil {
			return 0, err
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer pc.Close()
			for {
				var m *sarama.ConsumerMessage
				select {
				case m = <-pc.Messages():
				case <-ctx.Done():
					return
				}
				if !produce {
					select {
					case consumed <- 1:
					case <-ctx.Done():
						return
					}
					continue
				}
				pm := &sarama.ProducerMessage{Topic: "sarama.out", Key: sarama.ByteEncoder(m.Key), Value: sarama.ByteEncoder(m.Value)}
				select {
				case producer.Input() <- pm:
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	done := consumed
	if produce {
		done = nil
	}
	for settled := 0; settled < n; {
		select {
		case <-producer.Successes():
			settled++
		case c := <-done:
			settled += c
		case pe := <-producer.Errors():
			return 0, pe.Err
		case <-ctx.Done():
			return 0, fmt.Errorf("only %d of %d settled in 10 minutes", settled, n)
		}
	}
	return time.Since(start), nil
}
