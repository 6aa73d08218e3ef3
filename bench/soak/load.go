package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
)

// runKind is one kind of run of the mix.
type runKind int

const (
	kindCount runKind = iota // streaming /flow/count
	kindEcho                 // /flow/echo
	kindSteps                // /flow/steps
	kindWait                 // /flow/wait, a run that takes a while without streaming
)

// mix is the sequence of run kinds, repeated: 30% streams, 30% echo, 20%
// steps and 20% waits.
var mix = [...]runKind{kindCount, kindEcho, kindSteps, kindCount, kindEcho, kindWait, kindCount, kindEcho, kindSteps, kindWait}

const (
	streamChunks  = 20 // chunks per /flow/count run
	streamDelayMs = 2  // between chunks
	waitMs        = 20 // per /flow/wait run
)

// echoText pads the echo input to a typical size.
var echoText = strings.Repeat("soak ", 40)

// request returns run i's body, whether it streams, and the result its
// final object must carry (compact JSON).
func request(i int) (body string, stream bool, result string) {
	switch mix[i%len(mix)] {
	case kindCount:
		return fmt.Sprintf(`{"key":"/flow/count","input":{"count":%d,"delayMs":%d}}`, streamChunks, streamDelayMs),
			true, fmt.Sprintf(`{"count":%d}`, streamChunks)
	case kindSteps:
		n := 1 + i%4
		names := make([]string, n)
		for j := range names {
			names[j] = `"step-` + strconv.Itoa(j+1) + `"`
		}
		return fmt.Sprintf(`{"key":"/flow/steps","input":{"steps":%d}}`, n), false, "[" + strings.Join(names, ",") + "]"
	case kindWait:
		return fmt.Sprintf(`{"key":"/flow/wait","input":{"ms":%d}}`, waitMs), false, fmt.Sprintf(`{"waitedMs":%d}`, waitMs)
	}
	in := fmt.Sprintf(`{"i":%d,"text":%q}`, i, echoText)
	return `{"key":"/flow/echo","input":` + in + `}`, false, in
}

// LoadStats counts the outcomes of a load.
type LoadStats struct {
	Runs     int
	OK       int           // completed with the right result
	HungUp   int           // the client hung up as planned
	Failed   int           // any other outcome
	Errors   []string      // the first few failures
	Duration time.Duration // wall time of the load
}

// maxErrors bounds LoadStats.Errors.
const maxErrors = 5

// outcome is the result of one run.
type outcome int

const (
	outcomeOK outcome = iota
	outcomeHungUp
	outcomeFailed
)

// runLoad makes runs runs with concurrency clients against baseURL. Client
// w makes runs w, w+concurrency, ...; the first hangers clients hang up on
// each of theirs.
func runLoad(ctx context.Context, client *http.Client, baseURL string, runs, concurrency, hangers int) LoadStats {
	st := LoadStats{Runs: runs}
	var (
		mu sync.Mutex // guards st
		wg sync.WaitGroup
	)
	start := time.Now()
	for w := range concurrency {
		wg.Go(func() {
			for i := w; i < runs; i += concurrency {
				o, err := doRun(ctx, client, baseURL, i, w < hangers)
				mu.Lock()
				switch o {
				case outcomeOK:
					st.OK++
				case outcomeHungUp:
					st.HungUp++
				default:
					st.Failed++
					if len(st.Errors) < maxErrors {
						st.Errors = append(st.Errors, fmt.Sprintf("run %d: %v", i, err))
					}
				}
				mu.Unlock()
				if ctx.Err() != nil {
					return
				}
			}
		})
	}
	wg.Wait()
	st.Duration = time.Since(start)
	return st
}

// doRun makes run i. A client that hangs up closes the connection after
// the first chunk of a stream, or after the headers of any other run
// (which the runtime sends when the run starts).
func doRun(ctx context.Context, client *http.Client, baseURL string, i int, hangUp bool) (outcome, error) {
	body, stream, result := request(i)
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	req, err := runtimeproc.RunRequest(ctx, baseURL, stream, body)
	if err != nil {
		return outcomeFailed, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return outcomeFailed, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		b, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		return outcomeFailed, fmt.Errorf("status %d: %s", resp.StatusCode, b)
	}
	traceID := resp.Header.Get("X-Genkit-Trace-Id")
	br := bufio.NewReader(resp.Body)
	if hangUp {
		if stream {
			if _, err := br.ReadString('\n'); err != nil {
				return outcomeFailed, fmt.Errorf("first chunk: %w", err)
			}
		}
		// Cancelling the request closes its connection mid-response.
		cancel()
		return outcomeHungUp, nil
	}
	b, err := io.ReadAll(br)
	if err != nil {
		return outcomeFailed, err
	}
	got := string(b)
	if stream {
		var chunks strings.Builder
		for j := range streamChunks {
			fmt.Fprintf(&chunks, `{"index":%d}`+"\n", j)
		}
		if rest, ok := strings.CutPrefix(got, chunks.String()); !ok {
			return outcomeFailed, fmt.Errorf("stream chunks: %.200q", got)
		} else {
			got = rest
		}
	}
	if want := `{"result":` + result + `,"telemetry":{"traceId":"` + traceID + `"}}`; got != want {
		return outcomeFailed, fmt.Errorf("final %.200q; want %.200q", got, want)
	}
	return outcomeOK, nil
}
