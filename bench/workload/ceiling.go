package main

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"sync"

	json "github.com/goccy/go-json"
)

// The ceiling is W2's work done by a bare Go loop with no graph: read
// lines, decode each into map[string]any with goccy/go-json, the same
// filter and map in plain Go, encode the result, write it to io.Discard.
// It runs in a child process (see main) so its wall time and peak RSS are
// measured exactly like the flows'.

// blockBytes is how much the parallel reader hands a worker at once.
const blockBytes = 256 << 10

// w2Line does W2 on one line and reports whether it passed the filter.
func w2Line(line []byte) (bool, error) {
	var p map[string]any
	if err := json.Unmarshal(line, &p); err != nil {
		return false, fmt.Errorf("decode %q: %w", line, err)
	}
	amount, ok1 := p["amount"].(float64)
	currency, ok2 := p["currency"].(string)
	if !ok1 || !ok2 {
		return false, fmt.Errorf("line %q: amount or currency missing or of the wrong type", line)
	}
	if !(amount > 500 && currency == "EUR") {
		return false, nil
	}
	out, err := json.Marshal(map[string]any{
		"id": p["id"], "user": p["user"], "amount_cents": amount * 100, "big": amount > 5000,
	})
	if err != nil {
		return false, fmt.Errorf("encode: %w", err)
	}
	_, err = io.Discard.Write(out)
	return true, err
}

// ceilingSerial runs W2 over the file on one goroutine; it returns how
// many lines passed the filter.
func ceilingSerial(path string) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 0, 1<<20), 1<<20)
	matches := 0
	for sc.Scan() {
		if len(sc.Bytes()) == 0 {
			continue
		}
		ok, err := w2Line(sc.Bytes())
		if err != nil {
			return matches, err
		}
		if ok {
			matches++
		}
	}
	return matches, sc.Err()
}

// ceilingParallel runs W2 over the file on workers goroutines: one reader
// cuts the file into blocks of whole lines, the workers decode them.
func ceilingParallel(path string, workers int) (int, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	defer f.Close()

	blocks := make(chan []byte, workers)
	free := make(chan []byte, 2*workers+1) // bounds the memory in flight
	for range cap(free) {
		free <- make([]byte, blockBytes)
	}
	var (
		wg      sync.WaitGroup
		mu      sync.Mutex
		matches int
		errs    []error
	)
	for range workers {
		wg.Add(1)
		go func() { // ends when the reader closes blocks
			defer wg.Done()
			n, failed := 0, false
			for b := range blocks {
				for line := range bytes.Lines(b) {
					if failed || len(line) <= 1 {
						continue // after an error, only drain so the reader finishes
					}
					ok, err := w2Line(line[:len(line)-1])
					if err != nil {
						failed = true
						mu.Lock()
						errs = append(errs, err)
						mu.Unlock()
					} else if ok {
						n++
					}
				}
				free <- b[:cap(b)]
			}
			mu.Lock()
			matches += n
			mu.Unlock()
		}()
	}
	readErr := readBlocks(f, blocks, free)
	close(blocks)
	wg.Wait()
	return matches, errors.Join(append(errs, readErr)...)
}

// readBlocks fills buffers from free with whole lines of r and sends them
// to blocks; a last line without "\n" gets one.
func readBlocks(r io.Reader, blocks chan<- []byte, free <-chan []byte) error {
	var carry []byte
	for {
		buf := <-free
		n := copy(buf, carry)
		m, err := io.ReadFull(r, buf[n:])
		n += m
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			if n > 0 {
				if buf[n-1] != '\n' {
					if n == len(buf) {
						return fmt.Errorf("a line is longer than %d bytes", blockBytes)
					}
					buf[n] = '\n'
					n++
				}
				blocks <- buf[:n]
			}
			return nil
		}
		if err != nil {
			return err
		}
		cut := bytes.LastIndexByte(buf[:n], '\n') + 1
		if cut == 0 {
			return fmt.Errorf("a line is longer than %d bytes", blockBytes)
		}
		carry = append(carry[:0], buf[cut:n]...)
		blocks <- buf[:cut]
	}
}
