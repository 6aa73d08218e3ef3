package main

import (
	"bufio"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/runtimefile"
)

// finishedRun is what a client saw of one run: its body and when it ended.
type finishedRun struct {
	body string
	err  error
	at   time.Time
}

// readRest reads the rest of resp's body in the background, prefixed by
// the part already read, and reports it when the body ends.
func readRest(resp *http.Response, r io.Reader, prefix string) <-chan finishedRun {
	ch := make(chan finishedRun, 1)
	go func() {
		defer resp.Body.Close()
		b, err := io.ReadAll(r)
		ch <- finishedRun{body: prefix + string(b), err: err, at: time.Now()}
	}()
	return ch
}

// cancelledFinal is the final object of a run cancelled by shutdown.
func cancelledFinal(traceID string) string {
	return `{"error":{"code":1,"message":"Action was cancelled","details":{"traceId":"` + traceID + `"}}}`
}

// TestShutdownGrace sends SIGTERM to a runtime with runs in flight and
// checks the documented shutdown: the runtime file goes and new connections
// are refused at once; runs that finish within --shutdown-grace get their
// result; the others are cancelled when it ends and still get exactly one
// final line (a cancelled Status, code 1, with no trailing newline after
// the chunks already streamed); and the process exits with status 0.
func TestShutdownGrace(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	const grace = 2 * time.Second
	// slack covers a loaded machine: after the grace period the runtime
	// only cancels the runs and writes their final lines.
	const slack = 3 * time.Second
	p := startRuntime(t, []string{"--shutdown-grace", grace.String()}, nil)
	client := newTestClient(t)
	ctx := t.Context()

	// A run that would take a minute, and one that ends within the grace
	// period. Their headers arrive when their root span starts.
	long, err := startRun(ctx, client, p.url, false, `{"key":"/flow/wait","input":{"ms":60000}}`)
	if err != nil {
		t.Fatal(err)
	}
	short, err := startRun(ctx, client, p.url, false, `{"key":"/flow/wait","input":{"ms":1000}}`)
	if err != nil {
		t.Fatal(err)
	}
	// A stream of chunks 50 ms apart that would take more than an hour;
	// it is running once its first chunk is in.
	stream, err := startRun(ctx, client, p.url, true, `{"key":"/flow/count","input":{"count":100000,"delayMs":50}}`)
	if err != nil {
		t.Fatal(err)
	}
	sbr := bufio.NewReader(stream.Body)
	first, err := sbr.ReadString('\n')
	if err != nil {
		t.Fatalf("first chunk: %v", err)
	}
	longDone := readRest(long, long.Body, "")
	shortDone := readRest(short, short.Body, "")
	streamDone := readRest(stream, sbr, first)

	sigAt := time.Now()
	p.signal(t, syscall.SIGTERM)

	refusedAt := awaitRefused(t, p.addr(), grace)
	if _, err := os.Stat(p.rfPath); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("runtime file %s still there once connections are refused (stat: %v)", p.rfPath, err)
	}

	sr := <-shortDone
	if sr.err != nil {
		t.Errorf("short run: reading body: %v", sr.err)
	}
	if want := `{"result":{"waitedMs":1000},"telemetry":{"traceId":"` + short.Header.Get(reflection.HeaderTraceID) + `"}}`; sr.body != want {
		t.Errorf("short run body = %q; want %q (it ends within the grace period)", sr.body, want)
	}

	lr := <-longDone
	if lr.err != nil {
		t.Errorf("long run: reading body: %v", lr.err)
	}
	if long.StatusCode != http.StatusOK {
		t.Errorf("long run: status %d; want 200 (sent with the headers before the run)", long.StatusCode)
	}
	if want := cancelledFinal(long.Header.Get(reflection.HeaderTraceID)); lr.body != want {
		t.Errorf("long run body = %q; want %q", lr.body, want)
	}
	checkCutAfterGrace(t, "long run", lr.at.Sub(sigAt), grace, slack)

	st := <-streamDone
	if st.err != nil {
		t.Errorf("stream: reading body: %v", st.err)
	}
	chunks, final := splitStream(st.body)
	for i, c := range chunks {
		if want := `{"index":` + strconv.Itoa(i) + `}`; c != want {
			t.Fatalf("stream chunk %d = %q; want %q", i, c, want)
		}
	}
	// Chunks kept coming during the grace period.
	if len(chunks) < 2 {
		t.Errorf("stream has %d chunks; want more than the first, streamed during the grace period", len(chunks))
	}
	if want := cancelledFinal(stream.Header.Get(reflection.HeaderTraceID)); final != want {
		t.Errorf("stream final line = %q; want %q", final, want)
	}
	checkCutAfterGrace(t, "stream", st.at.Sub(sigAt), grace, slack)
	t.Logf("after SIGTERM: connections refused at %v, long run cut at %v, stream cut at %v after %d chunks",
		refusedAt.Sub(sigAt), lr.at.Sub(sigAt), st.at.Sub(sigAt), len(chunks))

	if refusedAt.After(lr.at) || refusedAt.After(st.at) {
		t.Errorf("new connections were still accepted after the runs in flight ended")
	}
	if code := p.wait(t, grace+slack); code != 0 {
		t.Errorf("exit status %d; want 0", code)
	}
	if ents, err := os.ReadDir(runtimefile.Dir(p.root)); err != nil || len(ents) != 0 {
		t.Errorf("runtimes directory after exit: %v entries, err %v; want empty", len(ents), err)
	}
	if c, err := net.Dial("tcp", p.addr()); err == nil {
		c.Close()
		t.Errorf("a connection to %s was accepted after exit", p.addr())
	}
}

// checkCutAfterGrace checks that a run cut off by shutdown ended after the
// grace period, which it was given, and not much later.
func checkCutAfterGrace(t *testing.T, what string, after, grace, slack time.Duration) {
	t.Helper()
	if after < grace {
		t.Errorf("%s ended %v after SIGTERM, within the %v grace period it should have had", what, after, grace)
	}
	if after > grace+slack {
		t.Errorf("%s ended %v after SIGTERM; want soon after the %v grace period", what, after, grace)
	}
}

// awaitRefused dials addr until a connection is refused and returns when
// that happened; it fails the test if none is refused within timeout.
func awaitRefused(t *testing.T, addr string, timeout time.Duration) time.Time {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err == nil {
			c.Close()
		} else if errors.Is(err, syscall.ECONNREFUSED) {
			return time.Now()
		} else {
			t.Fatalf("dialing %s: %v; want connection refused", addr, err)
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s still accepts connections %v after SIGTERM", addr, timeout)
		}
		// The listener closes asynchronously to the signal; nothing to
		// wait on but the refusal itself.
		time.Sleep(2 * time.Millisecond)
	}
}

// TestShutdownEndsTraceStreams checks that an open trace stream, which
// never ends by itself, does not hold shutdown for the grace period: it is
// ended when shutdown starts.
func TestShutdownEndsTraceStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("starts the binary")
	}
	const grace = time.Minute
	p := startRuntime(t, []string{"--shutdown-grace", grace.String()}, nil)
	client := newTestClient(t)
	ctx := t.Context()
	resp, _, err := runOnce(ctx, client, p.url, false, `{"key":"/flow/echo","input":1}`)
	if err != nil {
		t.Fatal(err)
	}
	traceID := resp.Header.Get(reflection.HeaderTraceID)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.url+"/api/traces/"+traceID+"/stream", nil)
	if err != nil {
		t.Fatal(err)
	}
	sresp, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer sresp.Body.Close()
	if sresp.StatusCode != http.StatusOK {
		t.Fatalf("trace stream: HTTP %d", sresp.StatusCode)
	}
	// The stream's first event is the trace as it is.
	if _, err := bufio.NewReader(sresp.Body).ReadString('\n'); err != nil {
		t.Fatalf("trace stream: %v", err)
	}
	p.signal(t, syscall.SIGTERM)
	if code := p.wait(t, grace/2); code != 0 {
		t.Errorf("exit status %d; want 0", code)
	}
}
