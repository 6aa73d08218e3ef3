package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
)

// kind is what a scenario's requests do.
type kind int

const (
	unary  kind = iota // POST /api/runAction, one JSON answer (v2: runAction)
	stream             // POST /api/runAction?stream=true, NDJSON (v2: runAction with stream, streamChunk notifications)
	list               // GET /api/actions
)

// load is one bounded measurement: conc clients sending requests back to
// back for dur (or until maxReqs were sent), against one server: over HTTP
// (v1) to url with body, or, when rt is set, over v2 as runAction requests
// for key with input, conc of them in flight on rt's one connection.
type load struct {
	kind    kind
	url     string
	body    []byte
	rt      *v2manager.Runtime
	key     string
	input   json.RawMessage
	conc    int
	dur     time.Duration
	grace   time.Duration // how long requests in flight at dur may take before they are cut off
	maxReqs int64
	chunks  int // chunks each stream must carry
}

// sample is the outcome of one load.
type sample struct {
	OK       int64         `json:"ok"`
	Errors   int64         `json:"errors"`
	Cut      int64         `json:"cut"` // requests still running at the hard deadline
	Elapsed  time.Duration `json:"elapsedNs"`
	CPU      time.Duration `json:"cpuNs"` // server CPU during the load
	P50      time.Duration `json:"p50Ns"`
	P99      time.Duration `json:"p99Ns"`
	Max      time.Duration `json:"maxNs"`
	Chunks   int64         `json:"chunks,omitempty"`
	FirstP50 time.Duration `json:"firstChunkP50Ns,omitempty"`
	FirstP99 time.Duration `json:"firstChunkP99Ns,omitempty"`
	Bytes    int64         `json:"bytes"`
	FirstErr string        `json:"firstError,omitempty"`
	Sink     *sinkCounts   `json:"sink,omitempty"`
}

// rate is completed requests per second.
func (s sample) rate() float64 { return float64(s.OK) / s.Elapsed.Seconds() }

// chunkRate is streamed chunks per second.
func (s sample) chunkRate() float64 { return float64(s.Chunks) / s.Elapsed.Seconds() }

// cpuPer is server CPU per completed request.
func (s sample) cpuPer() time.Duration {
	if s.OK == 0 {
		return 0
	}
	return s.CPU / time.Duration(s.OK)
}

// newClient returns a keep-alive client for conc concurrent requests.
func newClient(conc int) *http.Client {
	return &http.Client{Transport: &http.Transport{
		Proxy:               nil,
		MaxIdleConns:        conc * 2,
		MaxIdleConnsPerHost: conc * 2,
		DisableCompression:  true,
		IdleConnTimeout:     30 * time.Second,
	}}
}

// run performs the load against the server with process id pid (whose CPU
// is measured) using client.
func (ld load) run(ctx context.Context, client *http.Client, pid int) (sample, error) {
	var (
		issued   atomic.Int64
		mu       sync.Mutex // guards the fields of out and lats, firsts
		out      sample
		lats     []time.Duration
		firsts   []time.Duration
		firstErr error
	)
	hard, cancel := context.WithTimeout(ctx, ld.dur+ld.grace)
	defer cancel()
	cpu0, err := cpuTime(pid)
	if err != nil {
		return sample{}, err
	}
	t0 := time.Now()
	stopAt := t0.Add(ld.dur)
	var wg sync.WaitGroup
	for range ld.conc {
		wg.Go(func() {
			var my sample
			var myLats, myFirsts []time.Duration
			buf := make([]byte, 64<<10)
			var myErr error
			for time.Now().Before(stopAt) && issued.Add(1) <= ld.maxReqs && hard.Err() == nil {
				t := time.Now()
				var first time.Duration
				var n int64
				var chunks int
				var err error
				if ld.rt != nil {
					first, n, chunks, err = ld.oneV2(hard)
				} else {
					first, n, chunks, err = ld.one(hard, client, buf)
				}
				d := time.Since(t)
				my.Bytes += n
				switch {
				case err == nil:
					my.OK++
					my.Chunks += int64(chunks)
					myLats = append(myLats, d)
					if ld.kind == stream {
						myFirsts = append(myFirsts, first)
					}
				case hard.Err() != nil && ctx.Err() == nil:
					my.Cut++
					myLats = append(myLats, d)
				default:
					my.Errors++
					if myErr == nil {
						myErr = err
					}
				}
			}
			mu.Lock()
			out.OK += my.OK
			out.Errors += my.Errors
			out.Cut += my.Cut
			out.Chunks += my.Chunks
			out.Bytes += my.Bytes
			lats = append(lats, myLats...)
			firsts = append(firsts, myFirsts...)
			if firstErr == nil {
				firstErr = myErr
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	out.Elapsed = time.Since(t0)
	cpu1, err := cpuTime(pid)
	if err != nil {
		return sample{}, err
	}
	out.CPU = cpu1 - cpu0
	if ctx.Err() != nil {
		return sample{}, ctx.Err()
	}
	slices.Sort(lats)
	slices.Sort(firsts)
	out.P50, out.P99, out.Max = pct(lats, 50), pct(lats, 99), pct(lats, 100)
	out.FirstP50, out.FirstP99 = pct(firsts, 50), pct(firsts, 99)
	if firstErr != nil {
		out.FirstErr = firstErr.Error()
	}
	return out, nil
}

// pct returns the p-th percentile of sorted durations.
func pct(sorted []time.Duration, p int) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	i := (len(sorted)*p + 99) / 100
	return sorted[min(max(i-1, 0), len(sorted)-1)]
}

var (
	resultMark = []byte(`"result"`)
	errorMark  = []byte(`"error"`)
)

// one sends one request and reads the whole answer. For streams it returns
// the time to the first chunk and the number of chunk lines.
func (ld load) one(ctx context.Context, client *http.Client, buf []byte) (first time.Duration, n int64, chunks int, err error) {
	var req *http.Request
	if ld.kind == list {
		req, err = http.NewRequestWithContext(ctx, http.MethodGet, ld.url, nil)
	} else {
		req, err = http.NewRequestWithContext(ctx, http.MethodPost, ld.url, bytes.NewReader(ld.body))
		if err == nil {
			req.Header.Set("Content-Type", "application/json")
		}
	}
	if err != nil {
		return 0, 0, 0, err
	}
	t := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		return 0, 0, 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 300))
		return 0, 0, 0, fmt.Errorf("HTTP %d: %s", resp.StatusCode, b)
	}
	switch ld.kind {
	case list:
		var total int64
		var lastByte byte
		for {
			k, rerr := resp.Body.Read(buf)
			if k > 0 {
				total += int64(k)
				lastByte = buf[k-1]
			}
			if rerr == io.EOF {
				break
			}
			if rerr != nil {
				return 0, total, 0, rerr
			}
		}
		if lastByte != '}' {
			return 0, total, 0, errors.New("listing is not a JSON object")
		}
		return 0, total, 0, nil
	case unary:
		var b bytes.Buffer
		b.Grow(len(ld.body) + 256)
		k, rerr := b.ReadFrom(resp.Body)
		if rerr != nil {
			return 0, k, 0, rerr
		}
		if !bytes.Contains(b.Bytes(), resultMark) || bytes.Contains(b.Bytes(), errorMark) {
			return 0, k, 0, fmt.Errorf("not a result: %.200s", b.Bytes())
		}
		return 0, k, 0, nil
	default:
		// Chunk lines end with a newline; the final line holds "result"
		// (Genkit JS ends it without a newline, the Go SDK with one).
		br := bufio.NewReaderSize(resp.Body, 32<<10)
		var total int64
		final := false
		for {
			line, rerr := br.ReadSlice('\n')
			total += int64(len(line))
			if len(bytes.TrimSpace(line)) > 0 {
				switch {
				case final:
					return first, total, chunks, fmt.Errorf("data after the final line: %.200s", line)
				case bytes.Contains(line, resultMark) || bytes.Contains(line, errorMark):
					if bytes.Contains(line, errorMark) {
						return first, total, chunks, fmt.Errorf("stream ended with an error: %.200s", line)
					}
					final = true
				default:
					if chunks == 0 {
						first = time.Since(t)
					}
					chunks++
				}
			}
			if rerr == nil {
				continue
			}
			if rerr == io.EOF {
				break
			}
			if errors.Is(rerr, bufio.ErrBufferFull) {
				return first, total, chunks, errors.New("line too long")
			}
			return first, total, chunks, rerr
		}
		if !final {
			return first, total, chunks, errors.New("stream did not end with a result")
		}
		if chunks != ld.chunks {
			return first, total, chunks, fmt.Errorf("stream carried %d chunks, want %d", chunks, ld.chunks)
		}
		return first, total, chunks, nil
	}
}
