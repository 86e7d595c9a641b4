package main

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

type killMode string

const (
	// drainKill is what Kubernetes does on a rollout, scale-down or
	// eviction: SIGTERM, then flowrun drains (in-flight messages finish,
	// offsets are committed, the member leaves the group).
	drainKill killMode = "SIGTERM, 30s drain"
	// abruptKill gives the drain 1ms: in-flight messages are abandoned
	// unacked and their offsets not committed, as when the grace period
	// is too short. (The member still leaves the group; a pod that dies
	// without a word, OOM or node loss, is noticed only after the group's
	// session_timeout, 10s by default, before the same move happens.)
	abruptKill killMode = "drain cut to 1ms"
)

// failoverRun reads the first n messages' worth with replicas replicas,
// stops one when a third is done, and checks the output holds every
// input id.
func failoverRun(addr string, replicas int, rate float64, n int, mode killMode) error {
	group := "failover-drain"
	if mode == abruptKill {
		group = "failover-abrupt"
	}
	output := group + ".out"
	var rs []*replica
	for i := range replicas {
		drain := 30 * time.Second
		if i == 0 && mode == abruptKill { // rs[0] is the one stopped
			drain = time.Millisecond
		}
		r, err := startReplica(addr, group, output, rate, drain)
		if err != nil {
			_ = stopAll(rs)
			return err
		}
		rs = append(rs, r)
	}
	deadline := time.Now().Add(5 * time.Minute)
	wait := func(what string, every time.Duration, ok func() bool) error {
		for !ok() {
			if time.Now().After(deadline) {
				return fmt.Errorf("timed out waiting for %s", what)
			}
			time.Sleep(every)
		}
		return nil
	}
	if err := wait("the group to balance", 5*time.Millisecond, func() bool { return allReading(rs, replicas) && total(rs) >= int64(n/3) }); err != nil {
		_ = stopAll(rs)
		return err
	}
	victim, survivors := rs[0], rs[1:]
	moving := victim.owned()
	settledAtKill := total(rs)
	killed := time.Now()
	stopErr := victim.stop()
	stopped := time.Since(killed)
	err := wait("the partitions to move", 5*time.Millisecond, func() bool {
		var owned []string
		for _, r := range survivors {
			owned = append(owned, r.owned()...)
		}
		return !slices.ContainsFunc(moving, func(p string) bool { return !slices.Contains(owned, p) })
	})
	moved := time.Since(killed)
	if err != nil {
		_ = stopAll(survivors)
		return err
	}
	// The input holds more than n messages: stop once n distinct ids are
	// out. Only the first n (ids 0..n-1) are checked. Each check reads
	// the whole output topic, hence once a second.
	distinctN := func() bool { ids, _, _ := readOutput(addr, output); return countBelow(ids, n) == n }
	if err := wait("every message to be written", time.Second, distinctN); err != nil {
		_ = stopAll(survivors)
		return err
	}
	if err := stopAll(survivors); err != nil {
		return err
	}
	ids, total, err := readOutput(addr, output)
	if err != nil {
		return err
	}
	dup := 0
	for id, c := range ids {
		if id < n && c > 1 {
			dup += c - 1
		}
	}
	fmt.Printf("scaleout: fail-over, 1 of %d replicas stopped (%s) after %d messages: it held partitions %v;\n"+
		"scaleout:   it stopped in %s (%v); its partitions were owned by the others %s after the stop;\n"+
		"scaleout:   of ids 0..%d: %d missing, %d written twice or more (%d records out in all)\n",
		replicas, mode, settledAtKill, moving, stopped.Round(time.Millisecond), errOrOK(stopErr),
		moved.Round(time.Millisecond), n-1, n-countBelow(ids, n), dup, total)
	return nil
}

func errOrOK(err error) string {
	if err != nil {
		return err.Error()
	}
	return "exit ok"
}

func countBelow(ids map[int]int, n int) int {
	c := 0
	for id := range ids {
		if id < n {
			c++
		}
	}
	return c
}

// readOutput reads topic from the start to its end now and counts each id.
func readOutput(addr, topic string) (map[int]int, int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		return nil, 0, err
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil {
		return nil, 0, err
	}
	want := int64(0)
	ends.Each(func(o kadm.ListedOffset) { want += o.Offset })
	ids, total := map[int]int{}, 0
	for int64(total) < want {
		fs := cl.PollFetches(ctx)
		if err := fs.Err0(); err != nil {
			return nil, 0, err
		}
		var bad error
		fs.EachRecord(func(r *kgo.Record) {
			var m struct {
				ID int `json:"id"`
			}
			if err := json.Unmarshal(r.Value, &m); err != nil {
				bad = fmt.Errorf("output record %q: %w", r.Value, err)
			}
			ids[m.ID]++
			total++
		})
		if bad != nil {
			return nil, 0, bad
		}
	}
	return ids, total, nil
}

// preload writes ids 0..n-1, id i to partition i%8, so every partition
// holds the same number.
func preload(addr string, n int) error {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr), kgo.DefaultProduceTopic("input"),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer cl.Close()
	var (
		wg       sync.WaitGroup
		mu       sync.Mutex
		firstErr error
	)
	for i := range n {
		wg.Add(1)
		cl.Produce(context.Background(), &kgo.Record{Partition: int32(i % partitions), Value: fmt.Appendf(nil, `{"id":%d}`, i)},
			func(_ *kgo.Record, err error) {
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
				}
				wg.Done()
			})
	}
	wg.Wait()
	return firstErr
}
