package e2e

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/genkit-runtime/genkit-runtime/e2e/internal/clitest"
)

// freePort returns a loopback port that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestCLIEvalWithTelemetryServer runs eval:flow under "genkit start" with
// the CLI's own telemetry server: the evaluation needs the flow outputs the
// runtime exported there.
func TestCLIEvalWithTelemetryServer(t *testing.T) {
	clitest.NodeModules(t)
	p := clitest.NewProject(t)
	s := p.Start(t, clitest.StartOptions{Command: []string{binary}, NoUI: true})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if _, err := s.WaitRuntimeFile(ctx); err != nil {
		t.Fatalf("no runtime file: %v\n%s", err, s.Log())
	}
	out, err := s.Run(ctx, "eval:flow", "echo", `[{"testCaseId":"t1","input":"a"},{"testCaseId":"t2","input":""}]`, "--force")
	if err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	mustContain(t, "eval:flow", out, `(Evaluation ID: [0-9a-f-]{36}|evaluate/[0-9a-f-]{36})`)
	for _, bad := range []string{"Unable to extract any spans", "Command exited with an Error"} {
		if regexp.MustCompile(regexp.QuoteMeta(bad)).MatchString(out) {
			t.Errorf("eval:flow output has %q:\n%s", bad, out)
		}
	}
	checkEvalStatuses(t, p.Dir(), map[string]string{"t1": "PASS", "t2": "FAIL"})
}

// checkEvalStatuses reads the evaluation the CLI saved under
// .genkit/evals and checks each test case's status.
func checkEvalStatuses(t *testing.T, dir string, want map[string]string) {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(dir, ".genkit", "evals", "*.json"))
	for _, f := range files {
		if filepath.Base(f) == "index.json" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var run struct {
			Results []struct {
				TestCaseID string `json:"testCaseId"`
				Output     any    `json:"output"`
				Metrics    []struct {
					Status string `json:"status"`
				} `json:"metrics"`
			} `json:"results"`
		}
		if err := json.Unmarshal(data, &run); err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		got := map[string]string{}
		for _, r := range run.Results {
			for _, m := range r.Metrics {
				got[r.TestCaseID] = m.Status
			}
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("evaluation statuses (-want +got):\n%s\n%s", diff, data)
		}
		return
	}
	t.Errorf("no evaluation saved in %s/.genkit/evals", dir)
}

// TestCLITracesFromRuntimeStore points GENKIT_TELEMETRY_SERVER at the
// runtime itself: it keeps its traces in its own store and serves the
// telemetry API, which eval:flow, trace:list and trace:get then use.
func TestCLITracesFromRuntimeStore(t *testing.T) {
	clitest.NodeModules(t)
	port := freePort(t)
	self := "http://127.0.0.1:" + strconv.Itoa(port)
	p := clitest.NewProject(t)
	env := []string{"GENKIT_REFLECTION_PORT=" + strconv.Itoa(port), "GENKIT_TELEMETRY_SERVER=" + self}
	s := p.Start(t, clitest.StartOptions{Command: []string{binary}, NoUI: true, Env: env})
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	if _, err := s.WaitRuntimeFile(ctx); err != nil {
		t.Fatalf("no runtime file: %v\n%s", err, s.Log())
	}
	run := func(args ...string) string {
		t.Helper()
		out, err := p.RunEnv(ctx, []string{"GENKIT_TELEMETRY_SERVER=" + self}, args...)
		if err != nil {
			t.Fatalf("genkit %v: %v\n%s", args, err, out)
		}
		return out
	}

	out := run("flow:run", "steps", `{"steps":2}`)
	m := regexp.MustCompile(`Trace ID: ([0-9a-f]{32})`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("flow:run steps printed no trace ID:\n%s", out)
	}
	traceID := m[1]

	// The trace is in the runtime's own store.
	resp, err := http.Get(self + "/api/traces/" + traceID)
	if err != nil {
		t.Fatal(err)
	}
	var td struct {
		DisplayName string                     `json:"displayName"`
		Spans       map[string]json.RawMessage `json:"spans"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&td); err != nil {
		t.Fatalf("GET /api/traces/%s: %v", traceID, err)
	}
	resp.Body.Close()
	if td.DisplayName != "steps" || len(td.Spans) != 3 {
		t.Errorf("stored trace: displayName %q with %d spans; want steps with 3", td.DisplayName, len(td.Spans))
	}

	out = run("trace:list", "--limit", "3")
	mustContain(t, "trace:list", out, `Found \d+ traces?`, traceID)
	out = run("trace:get", traceID)
	mustContain(t, "trace:get", out, `steps`, `step-1`, `step-2`)

	out = run("eval:flow", "echo", `[{"testCaseId":"t1","input":"a"}]`, "--force")
	mustContain(t, "eval:flow (runtime store)", out, `(Evaluation ID: [0-9a-f-]{36}|evaluate/[0-9a-f-]{36})`)
	if regexp.MustCompile(`Unable to extract any spans`).MatchString(out) {
		t.Errorf("eval:flow could not read the runtime's traces:\n%s", out)
	}
	checkEvalStatuses(t, p.Dir(), map[string]string{"t1": "PASS"})
}
