package conformance_test

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/genkit-runtime/genkit-runtime/conformance"
)

// The suite's self-test: the whole suite runs against the in-process
// runtime, first as it is (every case must pass), then with one protocol
// rule deliberately broken at a time, where exactly the cases checking
// that rule must fail.

// heavyCases send bodies of 25 and 31 MiB and take most of a run's time
// (tens of seconds under the race detector). They check the body limit,
// which no breakage here is about: the breakage runs leave them out, and
// so does the control under the race detector. The e2e tests run them
// against the binary.
var heavyCases = []string{"v1/run-body-below-limit", "v1/run-body-too-large"}

// loadSuite loads the built-in suite, without the heavy cases unless
// withHeavy.
func loadSuite(t *testing.T, withHeavy bool) *conformance.Suite {
	t.Helper()
	s, err := conformance.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	if !withHeavy {
		s = s.Filter(func(c *conformance.Case) bool { return !slices.Contains(heavyCases, c.ID) })
	}
	return s
}

// runSuite runs the suite against target. traceTimeout, if not zero,
// bounds the trace steps.
func runSuite(t *testing.T, s *conformance.Suite, target *conformance.Target, traceTimeout time.Duration) *conformance.Report {
	t.Helper()
	rep, err := s.Run(t.Context(), target, &conformance.RunOptions{TraceTimeout: traceTimeout})
	if err != nil {
		t.Fatalf("Run: %v", err)
	}
	return rep
}

// reportText renders the report for a test failure.
func reportText(rep *conformance.Report) string {
	var b strings.Builder
	rep.WriteText(&b)
	return b.String()
}

// failed returns the ids of the failed cases, sorted.
func failed(rep *conformance.Report) []string {
	var ids []string
	for _, c := range rep.Cases {
		if c.Outcome == conformance.Fail {
			ids = append(ids, c.ID)
		}
	}
	slices.Sort(ids)
	return ids
}

// needsProcess reports whether a case needs a runtime the suite can stop,
// which an in-process runtime is not.
func needsProcess(c *conformance.Case) bool {
	return slices.Contains(c.Needs, conformance.NeedProcess)
}

// checkAllPass checks that every case of the suite that applies to the
// transport passed, except those needing a process, which must be
// unsupported.
func checkAllPass(t *testing.T, s *conformance.Suite, rep *conformance.Report) {
	t.Helper()
	if len(rep.Setup) > 0 {
		t.Errorf("setup problems: %v", rep.Setup)
	}
	byID := map[string]conformance.CaseResult{}
	for _, c := range rep.Cases {
		byID[c.ID] = c
	}
	n := 0
	for _, c := range s.Cases {
		if !c.Applies(rep.Transport) {
			continue
		}
		n++
		res, ok := byID[c.ID]
		want := conformance.Pass
		if needsProcess(c) {
			want = conformance.Unsupported
		}
		switch {
		case !ok:
			t.Errorf("case %s did not run", c.ID)
		case res.Outcome != want:
			t.Errorf("case %s: %s (%s), want %s\n%s", c.ID, res.Outcome, res.Reason, want, res.Diff())
		}
	}
	if len(rep.Cases) != n {
		t.Errorf("%d cases ran, want the %d that apply to %s", len(rep.Cases), n, rep.Transport)
	}
	if rep.Summary.Pass == 0 {
		t.Error("no case passed")
	}
	// Every message it sent was checked against spec/, and valid; over
	// v1, the bodies of each route, over v2 each kind of frame.
	switch sc := rep.Schema; {
	case sc == nil || sc.Messages == 0:
		t.Error("no message was validated against the schemas of spec/")
	case sc.Invalid != 0:
		t.Errorf("schemas: %s", sc)
	default:
		want := []string{"spec/schemas/rules/RunActionFinal.json", "spec/schemas/Action.json", "spec/schemas/TraceData.json"}
		if rep.Transport == conformance.V2 {
			want = []string{"spec/schemas/rules/JsonRpcResponse.json", "spec/schemas/rules/RunActionSuccess.json",
				"spec/schemas/rules/JsonRpcRunError.json", "spec/schemas/ReflectionStreamChunkParams.json",
				"spec/schemas/ReflectionRunActionStateParams.json", "spec/schemas/ReflectionListActionsResponse.json",
				"spec/schemas/ReflectionRegisterParams.json", "spec/schemas/TraceData.json"}
		}
		for _, p := range want {
			if c := sc.BySchema[p]; c == nil || c.Messages == 0 {
				t.Errorf("no message validated against %s", p)
			}
		}
	}
	t.Logf("%s: %d passed, %d failed, %d unsupported, in %s; schemas: %s",
		rep.Transport, rep.Summary.Pass, rep.Summary.Fail, rep.Summary.Unsupported, rep.Duration, rep.Schema)
}

// TestSuiteV1PassesCorrectRuntime is the control: the runtime as it is
// passes every v1 case it can be tested by in-process.
func TestSuiteV1PassesCorrectRuntime(t *testing.T) {
	t.Parallel()
	s := loadSuite(t, !raceEnabled)
	rep := runSuite(t, s, startV1(t, config{}), 0)
	checkAllPass(t, s, rep)
	if t.Failed() {
		t.Log(reportText(rep))
	}
}

// TestSuiteV2PassesCorrectRuntime is the control over reflection v2, the
// runtime connected through a relay that changes nothing.
func TestSuiteV2PassesCorrectRuntime(t *testing.T) {
	t.Parallel()
	s := loadSuite(t, !raceEnabled)
	rep := runSuite(t, s, startV2(t, config{relay: func(f []byte) [][]byte { return [][]byte{f} }}), 0)
	checkAllPass(t, s, rep)
	if t.Failed() {
		t.Log(reportText(rep))
	}
}

// breakage is a deliberately broken runtime and what the suite must say
// about it.
type breakage struct {
	name string
	// v1 wraps the correct v1 handler; v2 rewrites the runtime's frames.
	v1 func(http.Handler) http.Handler
	v2 func(frame []byte) [][]byte
	// sink wraps the telemetry sink, to change the runtime's exports;
	// launchEnv edits the environment of the runtimes cases launch.
	sink      func(http.Handler) http.Handler
	launchEnv func(env map[string]string)
	// firstDialFatal makes v2 runtimes give up when their first dial
	// fails.
	firstDialFatal bool
	// rule is the rule broken; at least one failing case cites it.
	rule string
	// fail lists every case that must fail, and no other may.
	fail []string
	// failAllBut, if not nil, replaces fail: every case run must fail
	// except these, as when every response breaks the schemas of spec/.
	failAllBut []string
	// diff is text the diff of a failing case must show: the path of
	// the observation that gave the breakage away.
	diff string
	// traceTimeout shortens the trace steps, for a runtime whose traces
	// never come.
	traceTimeout time.Duration
	// exact marks a breakage of a rule that only the failing cases cite:
	// the cases failing must then be exactly those citing it.
	exact bool
}

// checkCaught checks that exactly the expected cases failed, each with
// a diff, one citing the broken rule and one showing where it shows, and
// that every other case passed (or, needing a process, is unsupported).
func checkCaught(t *testing.T, s *conformance.Suite, b breakage, rep *conformance.Report) {
	t.Helper()
	want := slices.Sorted(slices.Values(b.fail))
	if b.failAllBut != nil {
		want = nil
		for _, c := range rep.Cases {
			if c.Outcome != conformance.Unsupported && !slices.Contains(b.failAllBut, c.ID) {
				want = append(want, c.ID)
			}
		}
		slices.Sort(want)
	}
	got := failed(rep)
	if !slices.Equal(got, want) {
		t.Errorf("failed cases:\n got %q\nwant %q", got, want)
	}
	cases := map[string]*conformance.Case{}
	var citing []string
	for _, c := range s.Cases {
		cases[c.ID] = c
		if c.Applies(rep.Transport) && slices.Contains(c.Rules, b.rule) {
			citing = append(citing, c.ID)
		}
	}
	if b.exact && !slices.Equal(citing, want) {
		t.Errorf("the cases citing %s over %s are %q; the breakage must fail exactly those, but expects %q", b.rule, rep.Transport, citing, want)
	}
	cited, shown := false, false
	for _, res := range rep.Cases {
		switch {
		case res.Outcome == conformance.Fail:
			d := res.Diff()
			if strings.TrimSpace(d) == "" {
				t.Errorf("case %s failed without a diff", res.ID)
			}
			cited = cited || slices.Contains(res.Rules, b.rule)
			shown = shown || strings.Contains(d, b.diff)
		case res.Outcome == conformance.Unsupported && !needsProcess(cases[res.ID]):
			t.Errorf("case %s is unsupported: %s", res.ID, res.Reason)
		}
	}
	if len(got) > 0 && !cited {
		t.Errorf("no failing case cites %s", b.rule)
	}
	if len(got) > 0 && !shown {
		t.Errorf("no failing case's diff shows %q", b.diff)
	}
}

// runBreakages runs the suite against each broken runtime of the
// transport, in parallel: the runs spend most of their time waiting on
// the cases' timed steps.
func runBreakages(t *testing.T, transport conformance.Transport, breakages []breakage) {
	t.Parallel()
	s := loadSuite(t, false)
	for _, b := range breakages {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			var target *conformance.Target
			cfg := config{wrap: b.v1, relay: b.v2, sink: b.sink, launchEnv: b.launchEnv, firstDialFatal: b.firstDialFatal}
			if transport == conformance.V1 {
				target = startV1(t, cfg)
			} else {
				target = startV2(t, cfg)
			}
			rep := runSuite(t, s, target, b.traceTimeout)
			checkCaught(t, s, b, rep)
			if t.Failed() {
				t.Log(reportText(rep))
			}
		})
	}
}

// TestSuiteCatchesBrokenV1Runtimes breaks one rule of the v1 API at a
// time and checks that the cases checking it, and only they, fail.
func TestSuiteCatchesBrokenV1Runtimes(t *testing.T) {
	streamFraming := []string{
		"run/cancel-stream", "run/greet-invalid-input-stream", "run/stream-count", "run/stream-error",
		"run/stream-incremental", "run/stream-many-chunks", "run/stream-zero-chunks",
		"trace/streamed-run", // its trace id is in the final line, which no longer parses
	}
	statusCases := []string{
		"run/cancel", "run/cancel-stream", "run/fail-codes", "run/fail-not-found", "run/greet-invalid-input",
		"run/greet-invalid-input-stream", "run/stream-error", "trace/error-span",
		"v1/run-malformed-json", "v1/run-missing-key", "v1/stream-param-not-boolean", "v1/error-body-compact",
		// The bare Status of a 4xx answer is invalid against
		// spec/schemas/rules/ErrorStatus.json too.
		"run/dap-unknown-tool", "run/dap-wildcard", "run/unknown-key", "run/unknown-key-stream",
		"v1/version-header", "v1/version-header-on-errors",
	}
	runBreakages(t, conformance.V1, []breakage{{
		name: "newline after the final line", v1: trailingNewline,
		rule: "protocol.md §8.1", diff: "framing.trailingNewline", fail: streamFraming,
	}, {
		name: "HTTP statuses as Status codes", v1: httpStatusCodes,
		rule: "protocol.md §8.3", diff: "final.error.code", fail: statusCases,
	}, {
		name: "Status without details", v1: noDetails,
		rule: "protocol.md §8.6", diff: "final.error.details", fail: statusCases,
	}, {
		name: "no X-Genkit-Trace-Id", v1: noTraceIDHeader,
		rule: "protocol.md §1.3", diff: `headers["x-genkit-trace-id"]`,
		fail: []string{
			"run/cancel", "run/cancel-stream", // cancelling needs the trace id before the result
			"run/disconnect-cancels", // so does following a run the client hangs up on
			"run/early-trace-id", "run/echo", "run/fail-not-found", "run/stream-count",
		},
	}, {
		name: "chunks wrapped in an object", v1: wrappedChunks,
		rule: "protocol.md §1.3", diff: "chunks[0]",
		fail: []string{"run/stream-count", "run/stream-incremental", "run/stream-many-chunks"},
	}, {
		name: "chunks held until the result", v1: heldChunks,
		rule: "protocol.md §1.3", diff: "earlyChunkMs",
		fail: []string{"run/stream-incremental"},
	}, {
		name: "health answers 500", v1: unhealthy,
		rule: "protocol.md §1.2", diff: "got:  500",
		fail: []string{
			"v1/health-env-runtime-id", "v1/health-ok", "v1/health-runtime-id", "v1/health-wrong-id",
			"v1/runtime-file-after-listen",
			"v1/version-header", // the 500 comes without X-Genkit-Version
		},
	}, {
		name: "health ignores the runtime id", v1: healthIgnoresID,
		rule: "protocol.md §8.9", diff: "got:  200",
		fail: []string{"v1/health-wrong-id"},
	}, {
		name: "notify ignored", v1: notifyIgnored,
		rule: "protocol.md §6.3", diff: "at complete",
		fail: []string{
			"run/disconnect-cancels", "trace/child-batches", "trace/context", "trace/dap-key",
			"trace/error-span", "trace/exported-before-result", "trace/key-attribute", "trace/model-path",
			"trace/no-input-attribute", "trace/realtime-start-export", "trace/root-span",
			"trace/span-id-header", "trace/steps", "trace/streamed-run", "trace/telemetry-labels",
			"trace/telemetry-labels-root-only", "trace/tool-path", "v1/notify-repoints",
		},
		// No trace ever comes: do not wait the full bound for each.
		traceTimeout: 100 * time.Millisecond,
	}, {
		name: "a null metadata value in the listing", v1: nullMetadataValue,
		rule: "protocol.md §3.3", diff: "spec/schemas/Action.json",
		// The cases that list the actions.
		fail: []string{
			"v1/actions-dap-expanded", "v1/actions-echo-descriptor", "v1/actions-evaluator-metadata",
			"v1/actions-fixture-keys", "v1/actions-greet-schema", "v1/actions-listing", "v1/actions-model-metadata",
			"v1/actions-no-nulls", "v1/actions-tool-listed", "v1/version-header", "v1/version-header-bare",
		},
	}, {
		name: "health rejects GENKIT_RUNTIME_ID", v1: healthPIDPortOnly,
		rule: "protocol.md §8.9 GENKIT_RUNTIME_ID", diff: "healthStatus", exact: true,
		fail: []string{"v1/health-env-runtime-id"},
	}, {
		name: "no cancel on disconnect", v1: runOutlivesClient,
		rule: "protocol.md §8.8 client disconnect", diff: "at complete", exact: true,
		fail: []string{"run/disconnect-cancels"},
	}, {
		name: "500 for a ?stream that is not a boolean", v1: streamParamServerError,
		rule: "protocol.md §8.33", diff: "status", exact: true,
		fail: []string{"v1/stream-param-not-boolean"},
	}, {
		name: "hand-formatted error JSON", v1: spacedErrorJSON,
		rule: "protocol.md §8.7", diff: "at text", exact: true,
		fail: []string{"v1/error-body-compact"},
	}, {
		name: "trace fields in batches without the root", sink: emptyTraceFields,
		rule: "protocol.md §8.20", diff: "batches", exact: true,
		fail: []string{"trace/child-batches"},
	}, {
		name: "GENKIT_ENABLE_REALTIME_TELEMETRY ignored", launchEnv: noRealtime,
		rule: "protocol.md §8.22", diff: "rootStartPosted", exact: true,
		fail: []string{"trace/realtime-start-export"},
	}})
}

// TestSuiteCatchesBrokenV2Runtimes breaks one rule of reflection v2 at a
// time, rewriting the runtime's frames on their way to the manager.
func TestSuiteCatchesBrokenV2Runtimes(t *testing.T) {
	runBreakages(t, conformance.V2, []breakage{{
		name: "runActionState twice", v2: stateTwice,
		rule: "protocol.md §8.25", diff: "states",
		fail: []string{"run/echo", "run/stream-count", "run/stream-not-requested", "v2/bidi", "v2/run-state-once"},
	}, {
		name: "streamChunk without chunk", v2: chunkRenamed,
		rule: "protocol.md §5.2", diff: "chunks[0]",
		fail: []string{"run/stream-count", "run/stream-incremental", "run/stream-many-chunks", "v2/bidi"},
	}, {
		name: "jsonrpc 1.0 responses", v2: jsonrpcVersion,
		rule: "protocol.md §5.2", diff: "violations",
		// Every response breaks spec/schemas/rules/JsonRpcResponse.json;
		// only the register exchange has none from the runtime.
		failAllBut: []string{"v2/register"},
	}, {
		name: "streamChunks held until the result", v2: holdStreamChunks(),
		rule: "protocol.md §5.2", diff: "earlyChunkMs",
		fail: []string{"run/stream-incremental"},
	}, {
		name: "a failed first dial is fatal", firstDialFatal: true,
		rule: "protocol.md §8.29", diff: "did not register", exact: true,
		fail: []string{"v2/start-before-manager"},
	}, {
		name: "register ignores GENKIT_RUNTIME_ID", v2: registerAsPID,
		rule: "protocol.md §8.30 GENKIT_RUNTIME_ID", diff: "request.params.id", exact: true,
		fail: []string{"v2/register-env-runtime-id"},
	}, {
		name: "trace fields in batches without the root", sink: emptyTraceFields,
		rule: "protocol.md §8.20", diff: "batches", exact: true,
		fail: []string{"trace/child-batches"},
	}, {
		name: "GENKIT_ENABLE_REALTIME_TELEMETRY ignored", launchEnv: noRealtime,
		rule: "protocol.md §8.22", diff: "rootStartPosted", exact: true,
		fail: []string{"trace/realtime-start-export"},
	}})
}
