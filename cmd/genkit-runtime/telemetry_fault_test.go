package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/genkit-runtime/genkit-runtime/traceexport"
	"github.com/genkit-runtime/genkit-runtime/tracestore"
)

// runBound is the longest a run may take while the telemetry server is
// gone, hanging or failing. The exporter stops holding runs for a server
// that has stalled for traceexport.DefaultStallTimeout (250 ms) or whose
// last post failed; without that, each run would wait for the handler's
// flush timeout, 2 s. Six stall timeouts (1.5 s) tell the two apart with
// room for a loaded machine; it is not a performance target.
const runBound = 6 * traceexport.DefaultStallTimeout

// sinkMode is how a telemetrySink answers.
type sinkMode int

const (
	sinkClosed sinkMode = iota // nothing listens on its port (once portClosed is called)
	sinkHang                   // accepts and never answers
	sinkFail                   // answers 500 to everything
	sinkRecord                 // records the traces and answers 200 OK
)

// telemetrySink is a Genkit telemetry server that can be faulty in one of
// the sinkModes and then recover.
type telemetrySink struct {
	addr     string        // host:port, fixed even while nothing listens
	quit     chan struct{} // closed at the end of the test; releases hung requests
	requests atomic.Int64  // requests received, in any mode

	mu sync.Mutex // guards held, mode, ended, changed, srv and served
	// held keeps the port of a sinkClosed sink until closePort: a free
	// port picked meanwhile (the runtime's own) cannot be this one.
	held    net.Listener
	mode    sinkMode
	ended   map[string]map[string]bool // trace ID → IDs of the ended spans received
	changed chan struct{}              // closed and replaced when ended changes
	srv     *http.Server
	served  chan struct{} // closed when srv.Serve has returned
}

// newTelemetrySink starts a sink in mode; it is closed when the test ends.
func newTelemetrySink(t *testing.T, mode sinkMode) *telemetrySink {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &telemetrySink{addr: l.Addr().String(), quit: make(chan struct{}), mode: mode,
		ended: map[string]map[string]bool{}, changed: make(chan struct{})}
	if mode == sinkClosed {
		s.held = l
	} else {
		s.serve(l)
	}
	t.Cleanup(s.close)
	return s
}

func (s *telemetrySink) url() string { return "http://" + s.addr }

func (s *telemetrySink) serve(l net.Listener) {
	s.srv = &http.Server{Handler: s, ReadHeaderTimeout: 10 * time.Second}
	s.served = make(chan struct{})
	srv, served := s.srv, s.served
	go func() {
		defer close(served)
		srv.Serve(l)
	}()
}

// closePort closes the port of a sinkClosed sink, held until now so that
// the runtime started with its URL could not be given the same port.
func (s *telemetrySink) closePort() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.held != nil {
		s.held.Close()
		s.held = nil
	}
}

// recover makes the sink record traces from now on, listening again on its
// old port if nothing listened there.
func (s *telemetrySink) recover(t *testing.T) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mode == sinkClosed {
		if s.held != nil {
			s.held.Close()
			s.held = nil
		}
		l, err := net.Listen("tcp", s.addr)
		if err != nil {
			t.Fatalf("listening again on %s: %v", s.addr, err)
		}
		s.serve(l)
	}
	s.mode = sinkRecord
}

func (s *telemetrySink) close() {
	close(s.quit)
	s.closePort()
	s.mu.Lock()
	srv, served := s.srv, s.served
	s.mu.Unlock()
	if srv != nil {
		srv.Close()
		<-served
	}
}

func (s *telemetrySink) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.requests.Add(1)
	s.mu.Lock()
	mode := s.mode
	s.mu.Unlock()
	switch mode {
	case sinkHang:
		select {
		case <-r.Context().Done():
		case <-s.quit:
		}
		return
	case sinkFail:
		io.Copy(io.Discard, r.Body)
		http.Error(w, "telemetry store unavailable", http.StatusInternalServerError)
		return
	}
	if r.Method != http.MethodPost || r.URL.Path != "/api/traces" {
		http.NotFound(w, r)
		return
	}
	var td tracestore.TraceData
	if err := json.NewDecoder(r.Body).Decode(&td); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	s.mu.Lock()
	m := s.ended[td.TraceID]
	if m == nil {
		m = map[string]bool{}
		s.ended[td.TraceID] = m
	}
	for id, sp := range td.Spans {
		if sp.EndTime > 0 {
			m[id] = true
		}
	}
	close(s.changed)
	s.changed = make(chan struct{})
	s.mu.Unlock()
	io.WriteString(w, "OK")
}

// awaitTraces waits until the sink has received, for every trace in want,
// at least the given number of ended spans.
func (s *telemetrySink) awaitTraces(ctx context.Context, want map[string]int) error {
	for {
		s.mu.Lock()
		missing := 0
		for id, n := range want {
			if len(s.ended[id]) < n {
				missing++
			}
		}
		changed := s.changed
		s.mu.Unlock()
		if missing == 0 {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return fmt.Errorf("%d of %d traces not (fully) received: %w", missing, len(want), ctx.Err())
		}
	}
}

// faultRun is one run of a batch and what it must give.
type faultRun struct {
	body   string
	result string // the expected result, compact JSON
	spans  int    // spans in its trace
}

// faultBatch returns n runs alternating /flow/echo and /flow/steps.
func faultBatch(n, offset int) []faultRun {
	runs := make([]faultRun, n)
	for i := range runs {
		k := offset + i
		if i%2 == 0 {
			in := fmt.Sprintf(`{"i":%d}`, k)
			runs[i] = faultRun{body: `{"key":"/flow/echo","input":` + in + `}`, result: in, spans: 1}
			continue
		}
		steps := 1 + k%3
		names := make([]string, steps)
		for j := range names {
			names[j] = fmt.Sprintf(`"step-%d"`, j+1)
		}
		runs[i] = faultRun{body: fmt.Sprintf(`{"key":"/flow/steps","input":{"steps":%d}}`, steps),
			result: "[" + strings.Join(names, ",") + "]", spans: steps + 1}
	}
	return runs
}

// runFaultBatch runs the batch with a few concurrent clients and checks
// that every run completes with its result within runBound. It returns the
// runs' trace IDs with their expected span counts, and the longest run.
func runFaultBatch(t *testing.T, client *http.Client, baseURL string, runs []faultRun) (map[string]int, time.Duration) {
	t.Helper()
	const clients = 4
	var (
		mu      sync.Mutex // guards traces and longest
		traces  = map[string]int{}
		longest time.Duration
		wg      sync.WaitGroup
		next    = make(chan faultRun)
	)
	for range clients {
		wg.Go(func() {
			for r := range next {
				start := time.Now()
				id, ok := checkFaultRun(t, client, baseURL, r)
				took := time.Since(start)
				if took > runBound {
					t.Errorf("run %s took %v; a faulty telemetry server must not hold a run beyond %v", r.body, took, runBound)
				}
				mu.Lock()
				longest = max(longest, took)
				if ok {
					traces[id] = r.spans
				}
				mu.Unlock()
			}
		})
	}
	for _, r := range runs {
		next <- r
	}
	close(next)
	wg.Wait()
	return traces, longest
}

// checkFaultRun runs r once and reports its trace ID when it succeeded.
func checkFaultRun(t *testing.T, client *http.Client, baseURL string, r faultRun) (string, bool) {
	resp, body, err := runOnce(t.Context(), client, baseURL, false, r.body)
	if err != nil {
		t.Errorf("run %s: %v", r.body, err)
		return "", false
	}
	var final struct {
		Result    json.RawMessage `json:"result"`
		Telemetry struct {
			TraceID string `json:"traceId"`
		} `json:"telemetry"`
	}
	if resp.StatusCode != http.StatusOK || json.Unmarshal([]byte(body), &final) != nil {
		t.Errorf("run %s: status %d, body %q", r.body, resp.StatusCode, body)
		return "", false
	}
	if string(final.Result) != r.result {
		t.Errorf("run %s: result %s; want %s", r.body, final.Result, r.result)
	}
	if final.Telemetry.TraceID == "" {
		t.Errorf("run %s: no trace ID in %s", r.body, body)
		return "", false
	}
	return final.Telemetry.TraceID, true
}

// checkLocalTraces checks that the runtime's own trace store serves every
// trace with all its spans.
func checkLocalTraces(t *testing.T, client *http.Client, baseURL string, traces map[string]int) {
	t.Helper()
	for id, n := range traces {
		resp, err := client.Get(baseURL + "/api/traces/" + id)
		if err != nil {
			t.Fatal(err)
		}
		var td tracestore.TraceData
		err = json.NewDecoder(resp.Body).Decode(&td)
		resp.Body.Close()
		if err != nil {
			t.Errorf("GET /api/traces/%s: %v", id, err)
			continue
		}
		if td.TraceID != id || len(td.Spans) != n {
			t.Errorf("local trace %s: id %q with %d spans; want %d spans", id, td.TraceID, len(td.Spans), n)
		}
	}
}

// checkHealthy checks that the runtime answers its health check promptly.
func checkHealthy(t *testing.T, baseURL string) {
	t.Helper()
	c := &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}, Timeout: runBound}
	resp, err := c.Get(baseURL + "/api/__health")
	if err != nil {
		t.Fatalf("health check: %v", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("health check: status %d", resp.StatusCode)
	}
}

// TestTelemetryServerFaults runs the binary exporting to a telemetry
// server (GENKIT_TELEMETRY_SERVER, realtime as genkit start sets it) that
// is gone, hangs, or fails every request. Runs must still complete with
// their results, each within runBound, their traces must be in the
// runtime's own store, and the runtime must stay healthy. When the
// telemetry server comes back, the traces of new runs reach it.
func TestTelemetryServerFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	for _, tc := range []struct {
		name string
		mode sinkMode
	}{
		{"closed port", sinkClosed},
		{"accepts and never answers", sinkHang},
		{"answers 500", sinkFail},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sink := newTelemetrySink(t, tc.mode)
			p := startRuntime(t, nil, []string{
				"GENKIT_TELEMETRY_SERVER=" + sink.url(),
				"GENKIT_ENABLE_REALTIME_TELEMETRY=true",
			})
			sink.closePort()
			client := newTestClient(t)

			traces, longest := runFaultBatch(t, client, p.url, faultBatch(40, 0))
			checkLocalTraces(t, client, p.url, traces)
			checkHealthy(t, p.url)
			if n := sink.requests.Load(); tc.mode != sinkClosed && n == 0 {
				t.Errorf("the telemetry server received no request; the runtime did not try to export")
			}

			sink.recover(t)
			// The first runs after recovery may be sent while the
			// exporter still counts the server as failing, and their
			// posts may queue behind posts to the hung server until
			// those time out (traceexport.DefaultTimeout); all are sent.
			recovered := time.Now()
			after, _ := runFaultBatch(t, client, p.url, faultBatch(10, 1000))
			checkLocalTraces(t, client, p.url, after)
			ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
			defer cancel()
			if err := sink.awaitTraces(ctx, after); err != nil {
				t.Errorf("after the telemetry server came back: %v", err)
			}
			checkHealthy(t, p.url)
			t.Logf("longest run while faulty %v; new runs' traces all received %v after recovery", longest, time.Since(recovered))
		})
	}
}
