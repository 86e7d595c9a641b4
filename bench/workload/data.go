package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"time"
)

// dataVersion names the generator's output format: change it whenever
// the events change, so a cached file from an older runner is not reused.
const dataVersion = 1

var (
	currencies = []string{"EUR", "USD", "GBP", "CHF"}
	countries  = []string{"DE", "FR", "IT", "ES", "NL", "BE", "AT", "CH", "GB", "US"}
	tagNames   = []string{"web", "mobile", "vip", "promo", "refund"}
	firstTS    = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
)

// stats is what the runner knows about a data file without asking the
// binary: the expected counts each workload's summary is checked against.
type stats struct {
	Lines     int            `json:"lines"`
	Bytes     int64          `json:"bytes"`
	W2Matches int            `json:"w2_matches"` // amount > 500 && currency == "EUR"
	Countries map[string]int `json:"countries"`
}

// dataFiles returns the data file for n lines in dir and its stats,
// generating both unless a complete pair from an earlier run is there.
func dataFiles(dir string, n int) (path string, st stats, err error) {
	path = filepath.Join(dir, fmt.Sprintf("payments-v%d-%d.jsonl", dataVersion, n))
	statsPath := path + ".stats.json"
	if st, err := readStats(path, statsPath); err == nil && st.Lines == n {
		return path, st, nil
	}
	// Write to temporary names first: an interrupted run leaves no pair
	// that looks complete.
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return "", stats{}, fmt.Errorf("create data file: %w", err)
	}
	st, err = generate(f, n)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", stats{}, errors.Join(fmt.Errorf("generate %s: %w", tmp, err), os.Remove(tmp))
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", stats{}, fmt.Errorf("rename data file: %w", err)
	}
	b, err := json.Marshal(st)
	if err != nil {
		return "", stats{}, fmt.Errorf("encode stats: %w", err)
	}
	if err := os.WriteFile(statsPath, b, 0o644); err != nil {
		return "", stats{}, fmt.Errorf("write stats: %w", err)
	}
	return path, st, nil
}

// readStats loads the stats of a cached data file, and fails when the
// data file is missing or not the size the stats say.
func readStats(path, statsPath string) (stats, error) {
	var st stats
	b, err := os.ReadFile(statsPath)
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return st, err
	}
	info, err := os.Stat(path)
	if err != nil {
		return st, err
	}
	if info.Size() != st.Bytes {
		return st, fmt.Errorf("%s is %d bytes, its stats say %d", path, info.Size(), st.Bytes)
	}
	return st, nil
}

// generate writes n payment events, one JSON object a line, from a fixed
// seed: the same n always gives the same bytes, so runs are comparable.
func generate(w io.Writer, n int) (stats, error) {
	rng := rand.New(rand.NewPCG(2026, 2))
	bw := bufio.NewWriterSize(w, 1<<20)
	st := stats{Lines: n, Countries: map[string]int{}}
	line := make([]byte, 0, 256)
	for i := 1; i <= n; i++ {
		cents := rng.IntN(1_000_001) // amount 0.00 .. 10000.00
		currency := currencies[rng.IntN(len(currencies))]
		country := countries[rng.IntN(len(countries))]
		if cents > 50_000 && currency == "EUR" {
			st.W2Matches++
		}
		st.Countries[country]++

		line = append(line[:0], `{"id":"p-`...)
		line = appendPadded(line, i, 6)
		line = append(line, `","user":"u-`...)
		line = strconv.AppendInt(line, int64(rng.IntN(1000)), 10)
		line = append(line, `","amount":`...)
		line = strconv.AppendInt(line, int64(cents/100), 10)
		line = append(line, '.')
		line = appendPadded(line, cents%100, 2)
		line = append(line, `,"currency":"`...)
		line = append(line, currency...)
		line = append(line, `","country":"`...)
		line = append(line, country...)
		line = append(line, `","ts":"`...)
		line = firstTS.Add(time.Duration(i)*time.Second).AppendFormat(line, time.RFC3339)
		line = append(line, `","tags":[`...)
		for t := range rng.IntN(4) {
			if t > 0 {
				line = append(line, ',')
			}
			line = append(line, '"')
			line = append(line, tagNames[rng.IntN(len(tagNames))]...)
			line = append(line, '"')
		}
		line = append(line, "]}\n"...)
		if _, err := bw.Write(line); err != nil {
			return st, err
		}
		st.Bytes += int64(len(line))
	}
	return st, bw.Flush()
}

// appendPadded appends v in decimal with leading zeros to width digits.
func appendPadded(b []byte, v, width int) []byte {
	s := strconv.Itoa(v)
	for range width - len(s) {
		b = append(b, '0')
	}
	return append(b, s...)
}
