package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/genkit-runtime/genkit-runtime/internal/jaegertest"
	"github.com/genkit-runtime/genkit-runtime/internal/telemetrytest"
	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/tracestore"
)

// otlpTestEnv is the environment that has the binary export to j over
// OTLP/HTTP, the way a user configures it, with the batch processor's
// delay (OTEL_BSP_SCHEDULE_DELAY, read by the OpenTelemetry SDK) cut from
// 5 s to 100 ms so that spans reach Jaeger soon after they end, and one
// export attempt bounded by 1 s instead of 10 s.
func otlpTestEnv(j *jaegertest.Jaeger, extra ...string) []string {
	return append([]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT=" + j.OTLPEndpoint,
		"OTEL_EXPORTER_OTLP_TIMEOUT=1000",
		"OTEL_BSP_SCHEDULE_DELAY=100",
	}, extra...)
}

// runTraced runs body on the runtime and returns the trace ID of the
// X-Genkit-Trace-Id header, the response status and its body.
func runTraced(t *testing.T, client *http.Client, baseURL, body string) (traceID string, status int, out string) {
	t.Helper()
	resp, out, err := runOnce(t.Context(), client, baseURL, false, body)
	if err != nil {
		t.Fatalf("run %s: %v", body, err)
	}
	id := resp.Header.Get(reflection.HeaderTraceID)
	if id == "" {
		t.Fatalf("run %s: no %s header; body %s", body, reflection.HeaderTraceID, out)
	}
	return id, resp.StatusCode, out
}

// localTrace returns the trace the runtime's own store holds.
func localTrace(t *testing.T, client *http.Client, baseURL, traceID string) tracestore.TraceData {
	t.Helper()
	resp, err := client.Get(baseURL + "/api/traces/" + traceID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var td tracestore.TraceData
	if err := json.NewDecoder(resp.Body).Decode(&td); err != nil {
		t.Fatalf("local trace %s: %v", traceID, err)
	}
	return td
}

// checkJaegerTrace checks the spans Jaeger holds for a trace against the
// runtime's own copy of it: the same spans, names and parents, every Genkit
// attribute with the same value, the same error status, all under service.
func checkJaegerTrace(t *testing.T, spans []jaegertest.Span, local tracestore.TraceData, service string) {
	t.Helper()
	if len(spans) != len(local.Spans) {
		t.Errorf("trace %s: %d spans in jaeger, %d in the runtime", local.TraceID, len(spans), len(local.Spans))
	}
	for _, s := range spans {
		ls, ok := local.Spans[s.SpanID]
		if !ok {
			t.Errorf("trace %s: jaeger has span %s (%s), unknown to the runtime", local.TraceID, s.SpanID, s.Name)
			continue
		}
		if s.TraceID != local.TraceID || s.Name != ls.DisplayName || s.ParentSpanID != ls.ParentSpanID {
			t.Errorf("span %s in jaeger: trace %s, name %q, parent %q; want %s, %q, %q",
				s.SpanID, s.TraceID, s.Name, s.ParentSpanID, local.TraceID, ls.DisplayName, ls.ParentSpanID)
		}
		if s.Service != service {
			t.Errorf("span %s (%s) in jaeger: service %q; want %q", s.SpanID, s.Name, s.Service, service)
		}
		for k, v := range ls.Attributes {
			want, ok := v.(string)
			if !ok {
				want = fmt.Sprint(v)
			}
			if got, ok := s.Attributes[k]; !ok || got != want {
				t.Errorf("span %s (%s) in jaeger: attribute %s = %q (present %v); want %q", s.SpanID, s.Name, k, got, ok, want)
			}
		}
		wantCode := 0
		if ls.Status != nil && ls.Status.Code == 2 {
			wantCode = 2
		}
		if s.StatusCode != wantCode {
			t.Errorf("span %s (%s) in jaeger: status code %d; want %d", s.SpanID, s.Name, s.StatusCode, wantCode)
		}
	}
}

// TestJaegerExport runs the binary exporting over OTLP/HTTP to a real
// Jaeger (v2, in-memory storage) and reads the traces back through
// Jaeger's query API: a /flow/steps run arrives whole (the root and its
// three steps, with their Genkit attributes), a failing /flow/fail run
// with its error status, both under the runtime's name, which is --name
// unless OTEL_SERVICE_NAME says otherwise; in OTLP protobuf, and in OTLP
// JSON compressed with gzip.
func TestJaegerExport(t *testing.T) {
	if testing.Short() {
		t.Skip("starts jaeger and the binary")
	}
	j := jaegertest.Start(t)
	client := newTestClient(t)
	var services []string
	for _, tc := range []struct {
		name    string
		args    []string
		env     []string
		service string
	}{
		{"default name", nil, nil, "genkit-runtime"},
		{"--name", []string{"--name", "checkout"}, nil, "checkout"},
		{"OTEL_SERVICE_NAME", []string{"--name", "checkout"}, []string{"OTEL_SERVICE_NAME=shop"}, "shop"},
		{"http/json, gzip", []string{"--name", "json"},
			[]string{"OTEL_EXPORTER_OTLP_PROTOCOL=http/json", "OTEL_EXPORTER_OTLP_COMPRESSION=gzip"}, "json"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startRuntime(t, tc.args, otlpTestEnv(j, tc.env...))
			stepsID, code, out := runTraced(t, client, p.url, `{"key":"/flow/steps","input":{"steps":3}}`)
			if code != http.StatusOK || !strings.Contains(out, `"result":["step-1","step-2","step-3"]`) {
				t.Fatalf("/flow/steps: status %d, body %s", code, out)
			}
			// The run's headers, trace ID included, are sent before it
			// runs, so its failure is in the body.
			failID, _, out := runTraced(t, client, p.url, `{"key":"/flow/fail","input":{"status":"NOT_FOUND","message":"no such order"}}`)
			if !strings.Contains(out, `"error"`) || !strings.Contains(out, "no such order") {
				t.Fatalf("/flow/fail: body %s; want its error", out)
			}
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()

			steps, err := j.AwaitTrace(ctx, stepsID, 4)
			if err != nil {
				t.Fatal(err)
			}
			checkJaegerTrace(t, steps, localTrace(t, client, p.url, stepsID), tc.service)
			var root jaegertest.Span
			var children []string
			for _, s := range steps {
				if s.ParentSpanID == "" {
					root = s
				}
			}
			for _, s := range steps {
				if s.ParentSpanID == root.SpanID && root.SpanID != "" {
					children = append(children, s.Name)
					if got, want := s.Attributes["genkit:path"], "/{steps,t:flow}/{"+s.Name+",t:flowStep}"; got != want {
						t.Errorf("step %s: genkit:path %q; want %q", s.Name, got, want)
					}
				}
			}
			slices.Sort(children)
			t.Logf("steps trace in jaeger: root %s %v, children %v, resource %v", root.Name, root.Attributes, children, root.Resource)
			if root.Name != "steps" || !slices.Equal(children, []string{"step-1", "step-2", "step-3"}) {
				t.Errorf("steps trace in jaeger: root %q with children %v; want steps with step-1..3", root.Name, children)
			}
			for k, want := range map[string]string{"genkit:type": "action", "genkit:metadata:subtype": "flow",
				"genkit:name": "steps", "genkit:path": "/{steps,t:flow}", "genkit:isRoot": "true", "genkit:state": "success"} {
				if got := root.Attributes[k]; got != want {
					t.Errorf("steps root in jaeger: %s = %q; want %q", k, got, want)
				}
			}

			fail, err := j.AwaitTrace(ctx, failID, 1)
			if err != nil {
				t.Fatal(err)
			}
			checkJaegerTrace(t, fail, localTrace(t, client, p.url, failID), tc.service)
			if len(fail) != 1 || fail[0].StatusCode != 2 || !strings.Contains(fail[0].StatusMessage, "no such order") ||
				fail[0].Attributes["genkit:state"] != "error" {
				t.Errorf("fail trace in jaeger = %+v; want one span with error status, its message and genkit:state error", fail)
			}

			services = append(services, tc.service)
			got, err := j.Services(ctx)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range services {
				if !slices.Contains(got, s) {
					t.Errorf("jaeger lists services %v; want %s among them", got, s)
				}
			}
		})
	}
}

// echoP99Bound is the p99 latency echo runs must keep while one of the two
// trace destinations is down. Runs take a few milliseconds; a run that
// waited for an export would take the export's timeout (1 s here) or the
// Genkit exporter's stall timeout (250 ms). It is a bound that tells the
// two apart on a loaded machine, not a performance target.
const echoP99Bound = 50 * time.Millisecond

// echoRounds is how many rounds of 200 runs checkEchoP99 may take to see
// one under echoP99Bound. A slowdown caused by a destination being down
// is in every round; the scheduling stalls of a machine running many
// tests at once on two cores, which can push one round's p99 over the
// bound, are not.
const echoRounds = 3

// checkEchoP99 runs rounds of 200 /flow/echo runs in sequence until one
// keeps a p99 under echoP99Bound, at most echoRounds, and fails the test
// if none does. It returns the runs' trace IDs.
func checkEchoP99(t *testing.T, client *http.Client, baseURL, what string) []string {
	t.Helper()
	var ids []string
	var p99s []time.Duration
	for range echoRounds {
		round, p99 := echoRuns(t, client, baseURL, 200)
		ids = append(ids, round...)
		p99s = append(p99s, p99)
		if p99 < echoP99Bound {
			break
		}
	}
	t.Logf("%s: echo p99 over 200 runs %v", what, p99s)
	if p99 := slices.Min(p99s); p99 >= echoP99Bound {
		t.Errorf("%s: echo p99 over 200 runs %v in %d rounds; want under %v", what, p99s, len(p99s), echoP99Bound)
	}
	return ids
}

// echoRuns runs /flow/echo n times in sequence and returns the trace IDs
// and the 99th percentile of the runs' durations.
func echoRuns(t *testing.T, client *http.Client, baseURL string, n int) ([]string, time.Duration) {
	t.Helper()
	ids := make([]string, 0, n)
	took := make([]time.Duration, 0, n)
	for i := range n {
		start := time.Now()
		id, code, _ := runTraced(t, client, baseURL, fmt.Sprintf(`{"key":"/flow/echo","input":{"i":%d}}`, i))
		took = append(took, time.Since(start))
		if code != http.StatusOK {
			t.Fatalf("echo run %d: status %d", i, code)
		}
		ids = append(ids, id)
	}
	slices.Sort(took)
	return ids, took[(len(took)*99+99)/100-1]
}

// awaitGenkitTrace polls the Genkit telemetry server at base until it holds
// trace id with at least n ended spans.
func awaitGenkitTrace(ctx context.Context, client *http.Client, base, id string, n int) error {
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/traces/"+id, nil)
		if err != nil {
			return err
		}
		ended := 0
		if resp, err := client.Do(req); err == nil {
			var td tracestore.TraceData
			if resp.StatusCode == http.StatusOK && json.NewDecoder(resp.Body).Decode(&td) == nil {
				for _, s := range td.Spans {
					if s.EndTime > 0 {
						ended++
					}
				}
			}
			resp.Body.Close()
		}
		if ended >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("trace %s: %d of %d ended spans at the telemetry server: %w", id, ended, n, context.Cause(ctx))
		case <-time.After(100 * time.Millisecond): // polling: the server has no notification
		}
	}
}

// awaitLog waits until the runtime's output holds want, and returns the
// output.
func awaitLog(t *testing.T, p *runtimeProc, want string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		out := p.Output()
		if strings.Contains(out, want) {
			return out
		}
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the runtime's log within %v:\n%s", want, timeout, out)
		}
		time.Sleep(50 * time.Millisecond) // polling the captured output
	}
}

// checkSlogOnly checks that every line the runtime wrote is a line of its
// slog text handler, so no library wrote in its own format.
func checkSlogOnly(t *testing.T, out string) {
	t.Helper()
	for line := range strings.SplitSeq(strings.TrimSpace(out), "\n") {
		if !strings.HasPrefix(line, "time=") {
			t.Errorf("runtime log line not from its logger: %q", line)
		}
	}
}

// TestJaegerFaults runs the binary exporting both to a real Jaeger over
// OTLP and to a Genkit telemetry server, as a team member running genkit
// start with a shared backend has it, and takes each down in turn: runs
// keep their latency, the other destination keeps receiving every trace,
// the OTLP failure is logged through the runtime's logger once (it is
// logged at most once a minute while it lasts) and its recovery once.
func TestJaegerFaults(t *testing.T) {
	if testing.Short() {
		t.Skip("starts jaeger and the binary")
	}
	j := jaegertest.Start(t)
	client := newTestClient(t)

	t.Run("jaeger down", func(t *testing.T) {
		genkit := telemetrytest.Start(t)
		p := startRuntime(t, nil, otlpTestEnv(j,
			"GENKIT_TELEMETRY_SERVER="+genkit, "GENKIT_ENABLE_REALTIME_TELEMETRY=true"))
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()

		before, code, _ := runTraced(t, client, p.url, `{"key":"/flow/steps","input":{"steps":2}}`)
		if code != http.StatusOK {
			t.Fatalf("/flow/steps: status %d", code)
		}
		if _, err := j.AwaitTrace(ctx, before, 3); err != nil {
			t.Fatal(err)
		}

		_, baseline := echoRuns(t, client, p.url, 200)

		// Background runs, one every 20 ms, keep spans flowing while
		// Jaeger stops, so that it stops with exports in flight; it is
		// stopped after the fifth.
		var (
			stopLoad = make(chan struct{})
			stopOnce sync.Once
			loadWG   sync.WaitGroup
			load     []string              // written by the goroutine, read after loadWG.Wait
			loading  = make(chan struct{}) // closed after the fifth background run
		)
		endLoad := func() {
			stopOnce.Do(func() { close(stopLoad) })
			loadWG.Wait()
		}
		t.Cleanup(endLoad) // when the test ends early
		loadWG.Go(func() {
			tick := time.NewTicker(20 * time.Millisecond)
			defer tick.Stop()
			for {
				select {
				case <-stopLoad:
					return
				case <-tick.C:
				}
				// Not runTraced: this goroutine must not call t.Fatal.
				resp, _, err := runOnce(t.Context(), client, p.url, false, `{"key":"/flow/steps","input":{"steps":3}}`)
				if err != nil || resp.StatusCode != http.StatusOK {
					t.Errorf("background /flow/steps: %v %v", resp, err)
					<-stopLoad
					return
				}
				load = append(load, resp.Header.Get(reflection.HeaderTraceID))
				if len(load) == 5 {
					close(loading)
				}
			}
		})
		select {
		case <-loading:
		case <-time.After(30 * time.Second):
			t.Fatal("the background runs did not start")
		}
		j.Stop(t)
		stopped := time.Now()
		endLoad()
		// The echo runs are measured alone, as the baseline was.
		ids := checkEchoP99(t, client, p.url, "jaeger stopped")
		awaitLog(t, p, `msg="OTLP export failing`, 10*time.Second)
		// The outage lasts at least 3 s, with a run every 50 ms: some 30
		// export attempts at the 100 ms schedule, all of which fail.
		for i := 0; time.Since(stopped) < 3*time.Second; i++ {
			id, _, _ := runTraced(t, client, p.url, fmt.Sprintf(`{"key":"/flow/echo","input":{"trickle":%d}}`, i))
			ids = append(ids, id)
			time.Sleep(50 * time.Millisecond) // pacing the runs, not synchronising
		}
		t.Logf("echo p99 over 200 runs with jaeger up: %v; %d background runs around the stop", baseline, len(load))
		for _, id := range ids {
			if err := awaitGenkitTrace(ctx, client, genkit, id, 1); err != nil {
				t.Fatalf("with jaeger stopped: %v", err)
			}
		}
		for _, id := range load {
			if err := awaitGenkitTrace(ctx, client, genkit, id, 4); err != nil {
				t.Fatalf("with jaeger stopped: %v", err)
			}
		}

		j.Restart(t)
		var after []string
		for range 5 {
			id, _, _ := runTraced(t, client, p.url, `{"key":"/flow/steps","input":{"steps":1}}`)
			after = append(after, id)
		}
		for _, id := range after {
			if _, err := j.AwaitTrace(ctx, id, 2); err != nil {
				t.Fatalf("after jaeger came back: %v", err)
			}
		}
		out := awaitLog(t, p, `msg="OTLP export recovered"`, 10*time.Second)
		for msg, want := range map[string]int{
			`msg="OTLP export failing`:       1,
			`msg="OTLP export still failing`: 0, // the outage lasted under a minute
			`msg="OTLP export recovered"`:    1,
			`msg="OpenTelemetry error"`:      0,
		} {
			if got := strings.Count(out, msg); got != want {
				t.Errorf("%d log lines with %s; want %d", got, msg, want)
			}
		}
		if m := regexp.MustCompile(`OTLP export recovered".* failed_exports=(\d+)`).FindStringSubmatch(out); m == nil {
			t.Errorf("no failed_exports in the recovery line:\n%s", out)
		} else if n, _ := strconv.Atoi(m[1]); n < 5 {
			t.Errorf("recovery after %d failed exports; want several, to show they are logged once", n)
		}
		for line := range strings.SplitSeq(out, "\n") {
			if strings.Contains(line, "OTLP export") {
				t.Log(line)
			}
		}
		checkSlogOnly(t, out)
	})

	t.Run("telemetry server down", func(t *testing.T) {
		sink := newTelemetrySink(t, sinkClosed)
		p := startRuntime(t, nil, otlpTestEnv(j,
			"GENKIT_TELEMETRY_SERVER="+sink.url(), "GENKIT_ENABLE_REALTIME_TELEMETRY=true"))
		sink.closePort()
		ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
		defer cancel()
		ids := checkEchoP99(t, client, p.url, "telemetry server down")
		for _, id := range ids {
			if _, err := j.AwaitTrace(ctx, id, 1); err != nil {
				t.Fatalf("with the telemetry server down: %v", err)
			}
		}
		sink.recover(t)
		after := map[string]int{}
		for range 5 {
			id, _, _ := runTraced(t, client, p.url, `{"key":"/flow/steps","input":{"steps":1}}`)
			after[id] = 2
		}
		if err := sink.awaitTraces(ctx, after); err != nil {
			t.Errorf("after the telemetry server came back: %v", err)
		}
		checkSlogOnly(t, p.Output())
	})
}
