package conformance

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
	"github.com/genkit-runtime/genkit-runtime/runtimefile"
)

// Default bounds of the steps.
const (
	// DefaultRunTimeout bounds a run, a start and an HTTP request.
	DefaultRunTimeout = 30 * time.Second
	// DefaultTraceTimeout bounds the wait for a trace in the sink.
	DefaultTraceTimeout = 5 * time.Second
	// DefaultShutdownTimeout bounds the shutdown step.
	DefaultShutdownTimeout = 30 * time.Second
	// runtimeWait bounds the wait for a v2 runtime to (re)connect.
	runtimeWait = 10 * time.Second
	// defaultSettle is how long a notification step watches for answers.
	defaultSettle = 200 * time.Millisecond
)

// RunOptions configures Suite.Run. The zero value is ready to use.
type RunOptions struct {
	// Progress, if not nil, receives each case's result as soon as it is
	// known, from the goroutine that called Run.
	Progress func(CaseResult)
	// Logger receives diagnostics. If nil, nothing is logged.
	Logger *slog.Logger
	// TraceTimeout bounds the wait of a trace step that sets no
	// timeoutMs of its own. If zero, DefaultTraceTimeout.
	TraceTimeout time.Duration
}

// runner runs a suite against one target.
type runner struct {
	t            *Target
	client       *http.Client
	logger       *slog.Logger
	traceTimeout time.Duration

	// actions are the keys the runtime lists; nil when the listing failed,
	// in which case no case is unsupported for want of an action.
	actions map[string]bool
	// runtimeID is the runtime's id, when known.
	runtimeID string
	// v2Down is set when no v2 runtime could be found, so later steps do
	// not wait for one again.
	v2Down bool
	// registerViolations holds, for each v2 connection, how many protocol
	// errors it had when the suite first used it: those of its register
	// exchange, not of the cases run since.
	registerViolations map[*v2manager.Runtime]int

	// schema validates every message received against spec/.
	schema *schemaCheck

	shutdownOnce sync.Once
	shutdownRes  *ShutdownResult
	shutdownErr  error
}

// Run runs the suite's cases that apply to the target's transport, in ID
// order except that cases stopping the runtime come last, and reports the
// outcome of each. It returns an error only for a target that cannot be
// used at all; a runtime that misbehaves gives failed cases.
func (s *Suite) Run(ctx context.Context, t *Target, opts *RunOptions) (*Report, error) {
	if err := t.check(); err != nil {
		return nil, err
	}
	var o RunOptions
	if opts != nil {
		o = *opts
	}
	r := newRunner(t, o)
	defer r.client.CloseIdleConnections()
	rep := &Report{Target: t.Name, Transport: t.Transport, SuiteVersion: s.Version(), Command: t.Command, Started: time.Now()}
	if t.Transport == V1 {
		rep.URL = t.URL
	}
	var err error
	if r.schema, err = newSchemaCheck(); err != nil {
		return nil, err
	}
	rep.Setup = r.setup(ctx, rep)
	rep.Setup = append(rep.Setup, r.schema.setupProblems(r)...)

	var cases, last []*Case
	for _, c := range s.Cases {
		switch {
		case !c.Applies(t.Transport):
		case c.hasShutdown():
			last = append(last, c)
		default:
			cases = append(cases, c)
		}
	}
	for _, c := range append(cases, last...) {
		if ctx.Err() != nil {
			break
		}
		res := r.runCase(ctx, c)
		rep.Cases = append(rep.Cases, res)
		switch res.Outcome {
		case Pass:
			rep.Summary.Pass++
		case Fail:
			rep.Summary.Fail++
		case Unsupported:
			rep.Summary.Unsupported++
		}
		if o.Progress != nil {
			o.Progress(res)
		}
	}
	rep.Schema = r.schema.summary()
	rep.Duration = Duration(time.Since(rep.Started))
	if rep.Failed() && t.Output != nil {
		rep.Output = t.Output()
	}
	return rep, ctx.Err()
}

// newRunner returns a runner of the target, with o's bounds and logger.
func newRunner(t *Target, o RunOptions) *runner {
	r := &runner{t: t, client: t.HTTPClient, logger: o.Logger, traceTimeout: o.TraceTimeout}
	if r.traceTimeout <= 0 {
		r.traceTimeout = DefaultTraceTimeout
	}
	if r.client == nil {
		r.client = &http.Client{Transport: &http.Transport{Proxy: nil, DisableCompression: true}}
	}
	if r.logger == nil {
		r.logger = slog.New(slog.DiscardHandler)
	}
	return r
}

func (t *Target) check() error {
	switch t.Transport {
	case V1:
		if t.URL == "" {
			return errors.New("conformance: a v1 target needs a URL")
		}
	case V2:
		if t.Manager == nil || t.Messages == nil {
			return errors.New("conformance: a v2 target needs a Manager and its Messages recorder")
		}
	default:
		return fmt.Errorf("conformance: unknown transport %q", t.Transport)
	}
	if t.Sink == nil || t.SinkURL == "" {
		return errors.New("conformance: a target needs a Sink and its SinkURL")
	}
	return nil
}

// setup prepares the runtime as the CLI does when it adds one, and reads
// its action listing. It returns the problems met.
func (r *runner) setup(ctx context.Context, rep *Report) []string {
	var problems []string
	switch r.t.Transport {
	case V1:
		if f := r.t.RuntimeFile; f != nil {
			if info, err := runtimefile.Parse(f.Data); err == nil {
				r.runtimeID = info.ID
				rep.GenkitVersion = info.GenkitVersion
			}
		}
		// The CLI tells a runtime it adds where its telemetry server is.
		body, _ := json.Marshal(map[string]any{"telemetryServerUrl": r.t.SinkURL, "reflectionApiSpecVersion": 1})
		x := r.httpDo(ctx, http.MethodPost, "/api/notify", map[string]string{"Content-Type": "application/json"}, body)
		if x.err != nil || x.status != http.StatusOK {
			problems = append(problems, fmt.Sprintf("POST /api/notify: %s", x.summary()))
		}
		x = r.httpDo(ctx, http.MethodGet, "/api/actions", nil, nil)
		if rep.GenkitVersion == "" && x.header != nil {
			rep.GenkitVersion = x.header.Get("X-Genkit-Version")
		}
		var listing map[string]json.RawMessage
		if x.err != nil || x.status != http.StatusOK || json.Unmarshal(x.body, &listing) != nil {
			problems = append(problems, fmt.Sprintf("GET /api/actions: %s; no case is marked unsupported", x.summary()))
		} else {
			r.setActions(listing)
		}
	case V2:
		rt, err := r.runtime(ctx)
		if err != nil {
			problems = append(problems, "no runtime registered: "+err.Error())
			return problems
		}
		info := rt.Info()
		r.runtimeID = info.ID
		rep.GenkitVersion = info.GenkitVersion
		var res struct {
			Actions map[string]json.RawMessage `json:"actions"`
		}
		cctx, cancel := context.WithTimeout(ctx, DefaultRunTimeout)
		defer cancel()
		if err := rt.Call(cctx, "listActions", nil, &res); err != nil || res.Actions == nil {
			problems = append(problems, fmt.Sprintf("listActions: %v; no case is marked unsupported", errOr(err, "no actions member")))
		} else {
			r.setActions(res.Actions)
		}
	}
	return problems
}

func errOr(err error, s string) string {
	if err != nil {
		return err.Error()
	}
	return s
}

func (r *runner) setActions(listing map[string]json.RawMessage) {
	r.actions = map[string]bool{}
	for k := range listing {
		r.actions[k] = true
	}
}

// unsupported says why the case cannot run against the target, or "".
func (r *runner) unsupported(c *Case) string {
	for _, n := range c.Needs {
		switch {
		case n == NeedRuntimeFile && r.t.RuntimeFile == nil:
			return "the runtime was not discovered through a runtime file"
		case n == NeedProcess && r.t.Shutdown == nil:
			return "the runtime was not started by the suite"
		}
	}
	if r.actions == nil {
		return ""
	}
	for _, req := range c.Requires {
		alts := strings.Split(req, "|")
		if !slices.ContainsFunc(alts, func(k string) bool { return r.actions[k] }) {
			return "the runtime lists no " + strings.Join(alts, " or ")
		}
	}
	return ""
}

// builtins are the variables every case starts with.
func (r *runner) builtins() vars {
	vs := vars{
		"sink.url":    r.t.SinkURL,
		"sink.altUrl": strings.TrimSuffix(r.t.SinkURL, "/") + "/alt",
	}
	if r.runtimeID != "" {
		vs["runtime.id"] = r.runtimeID
	}
	return vs
}

// caseRun is the state of one case while it runs.
type caseRun struct {
	r    *runner
	c    *Case
	vars vars
	runs map[string]*bgRun
}

// bgRun is a run started in the background.
type bgRun struct {
	cancel  context.CancelFunc
	done    chan struct{}
	traceID string         // known once started
	obs     map[string]any // the outcome, once done is closed
}

// runCase runs a case against the runner's target, or against a runtime
// of its own when the case controls the launch.
func (r *runner) runCase(ctx context.Context, c *Case) CaseResult {
	if c.Launch != nil {
		return r.runLaunched(ctx, c)
	}
	return r.runSteps(ctx, c)
}

// runLaunched starts a runtime for the case with the case's launch
// settings, runs the case against it and stops it.
func (r *runner) runLaunched(ctx context.Context, c *Case) CaseResult {
	start := time.Now()
	res := CaseResult{ID: c.ID, Title: c.Title, Rules: c.Rules}
	if r.t.Launch == nil {
		res.Outcome, res.Reason = Unsupported, "the suite did not start the runtime, so it cannot start another with the case's settings"
		return res
	}
	t, stop, err := r.t.Launch(ctx, c.Launch)
	if err == nil {
		err = t.check()
		if err != nil {
			stop()
		}
	}
	if err != nil {
		res.Outcome = Fail
		res.Steps = []StepResult{{Step: "launch", Error: err.Error()}}
		res.Duration = Duration(time.Since(start))
		return res
	}
	defer stop()
	sub := newRunner(t, RunOptions{Logger: r.logger, TraceTimeout: r.traceTimeout})
	// The launched runtime's messages are validated, and counted with the
	// suite's.
	sub.schema = r.schema.fork()
	defer sub.client.CloseIdleConnections()
	if problems := sub.setup(ctx, &Report{}); len(problems) > 0 {
		r.logger.Debug("setup of a launched runtime", "case", c.ID, "problems", problems)
	}
	res = sub.runSteps(ctx, c)
	res.Duration = Duration(time.Since(start))
	return res
}

// runSteps runs the case's steps against the runner's target.
func (r *runner) runSteps(ctx context.Context, c *Case) CaseResult {
	start := time.Now()
	res := CaseResult{ID: c.ID, Title: c.Title, Rules: c.Rules}
	if why := r.unsupported(c); why != "" {
		res.Outcome, res.Reason = Unsupported, why
		return res
	}
	cr := &caseRun{r: r, c: c, vars: r.builtins(), runs: map[string]*bgRun{}}
	defer cr.stopRuns()
	failed := false
	var steps []StepResult
	for i, s := range c.Steps {
		label := s.label(i)
		if failed && !s.Always {
			steps = append(steps, StepResult{Step: label, Skipped: true})
			continue
		}
		sr := cr.step(ctx, s)
		sr.Step = label
		if sr.Failed() {
			failed = true
			r.logger.Debug("step failed", "case", c.ID, "step", label, "error", sr.Error, "mismatches", len(sr.Mismatches))
		}
		steps = append(steps, sr)
	}
	res.Outcome = Pass
	if failed {
		res.Outcome = Fail
		res.Steps = steps
	}
	res.Duration = Duration(time.Since(start))
	return res
}

// stopRuns cancels the background runs still going and waits for them.
func (cr *caseRun) stopRuns() {
	for _, b := range cr.runs {
		b.cancel()
		<-b.done
	}
}

// step performs one step and checks its observation.
func (cr *caseRun) step(ctx context.Context, s *Step) StepResult {
	obs, err := cr.observe(ctx, s)
	if err != nil {
		return StepResult{Error: err.Error()}
	}
	got := normalize(obs)
	var sr StepResult
	invalid := cr.r.schema.step(cr, s, obs)
	pats := []any{s.expect}
	if cr.r.t.Transport == V1 {
		pats = append(pats, s.expectV1)
	} else {
		pats = append(pats, s.expectV2)
	}
	for _, p := range pats {
		if p == nil {
			continue
		}
		pat, err := cr.vars.subst(p)
		if err != nil {
			sr.Error = "expect: " + err.Error()
			break
		}
		sr.Mismatches = append(sr.Mismatches, Match(pat, got)...)
	}
	for _, name := range sortedKeys(s.Save) {
		v, ok, err := lookup(got, s.Save[name])
		if err != nil || !ok {
			sr.Mismatches = append(sr.Mismatches, Mismatch{Path: s.Save[name], Want: "<any>", Got: placeholderAbsent,
				Reason: "needed for variable " + name})
			continue
		}
		cr.vars[name] = v
	}
	// After the case's own checks, so that a report's first problem is
	// the rule the case is about.
	sr.Mismatches = append(sr.Mismatches, invalid...)
	if sr.Failed() {
		sr.Observation = observationJSON(got)
	}
	return sr
}

// observationJSON renders an observation for a report, with long strings
// and arrays cut.
func observationJSON(v any) json.RawMessage {
	b, err := json.Marshal(trim(v, 0))
	if err != nil {
		return nil
	}
	return b
}

// trim shortens v for a report: strings to 500 bytes, arrays to 20
// elements, and nothing deeper than 12 levels.
func trim(v any, depth int) any {
	if depth > 12 {
		return "…"
	}
	switch t := v.(type) {
	case string:
		if len(t) > 500 {
			return cut(t, 500) + fmt.Sprintf("…(%d bytes)", len(t))
		}
	case []any:
		n := min(len(t), 20)
		out := make([]any, 0, n+1)
		for _, e := range t[:n] {
			out = append(out, trim(e, depth+1))
		}
		if len(t) > n {
			out = append(out, fmt.Sprintf("…(%d more)", len(t)-n))
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = trim(e, depth+1)
		}
		return out
	}
	return v
}

// observe performs the step's action and returns what it saw.
func (cr *caseRun) observe(ctx context.Context, s *Step) (map[string]any, error) {
	r := cr.r
	kind, _ := s.action()
	switch kind {
	case "http":
		return cr.http(ctx, s.HTTP)
	case "run":
		rs, err := cr.substRun(s.Run)
		if err != nil {
			return nil, err
		}
		b, err := cr.start(ctx, rs, false)
		if err != nil {
			return nil, err
		}
		defer b.cancel()
		<-b.done
		return b.obs, nil
	case "start":
		rs, err := cr.substRun(s.Start)
		if err != nil {
			return nil, err
		}
		b, err := cr.start(ctx, rs, true)
		if err != nil {
			return nil, err
		}
		cr.runs[rs.As] = b
		obs := map[string]any{"started": b.traceID != ""}
		if b.traceID != "" {
			obs["traceId"] = b.traceID
		}
		return obs, nil
	case "await":
		b := cr.runs[s.Await]
		<-b.done
		return b.obs, nil
	case "hangUp":
		b := cr.runs[s.HangUp]
		select {
		case <-b.done:
			// The run ended before the client could hang up.
			return map[string]any{"hungUp": false}, nil
		default:
		}
		// Cancelling the request's context closes its connection.
		b.cancel()
		<-b.done
		return map[string]any{"hungUp": true}, nil
	case "cancel":
		var id string
		if s.Cancel.Run != "" {
			id = cr.runs[s.Cancel.Run].traceID
			if id == "" {
				return nil, fmt.Errorf("run %q has no trace id to cancel (none was announced)", s.Cancel.Run)
			}
		} else {
			v, err := cr.vars.str(*s.Cancel.TraceID)
			if err != nil {
				return nil, err
			}
			id = v
		}
		if r.t.Transport == V1 {
			body, _ := json.Marshal(map[string]string{"traceId": id})
			return r.httpDo(ctx, http.MethodPost, "/api/cancelAction", map[string]string{"Content-Type": "application/json"}, body).observation(false), nil
		}
		return cr.rpc(ctx, "cancelAction", mustJSON(map[string]string{"traceId": id}), nil)
	case "rpc":
		params, err := cr.substRaw(s.RPC.Params)
		if err != nil {
			return nil, err
		}
		var id json.RawMessage
		if s.RPC.ID != nil {
			if id, err = cr.substRaw(s.RPC.ID); err != nil {
				return nil, err
			}
		}
		return cr.rpc(ctx, s.RPC.Method, params, id)
	case "notify":
		params, err := cr.substRaw(s.Notify.Params)
		if err != nil {
			return nil, err
		}
		return cr.notify(ctx, s.Notify.Method, params, s.Notify.SettleMs)
	case "register":
		return cr.register(ctx)
	case "trace":
		return cr.trace(ctx, s.Trace)
	case "runtimeFile":
		return runtimeFileObservation(r.t.RuntimeFile), nil
	case "shutdown":
		return r.shutdown(ctx), nil
	}
	return nil, fmt.Errorf("unknown step kind %s", kind)
}

// start starts a run over the target's transport. When wantTrace is set
// it returns once the run's trace id is known (or the run has ended);
// otherwise at once.
func (cr *caseRun) start(ctx context.Context, rs *RunStep, wantTrace bool) (*bgRun, error) {
	timeout := DefaultRunTimeout
	if rs.TimeoutMs > 0 {
		timeout = time.Duration(rs.TimeoutMs) * time.Millisecond
	}
	if cr.r.t.Transport == V1 {
		return cr.r.startV1(ctx, rs, timeout)
	}
	return cr.startV2(ctx, rs, timeout, wantTrace)
}

// substRun replaces the variables in a run step.
func (cr *caseRun) substRun(rs *RunStep) (*RunStep, error) {
	out := *rs
	var err error
	if out.Key, err = cr.vars.str(rs.Key); err != nil {
		return nil, err
	}
	for _, f := range []*json.RawMessage{&out.Input, &out.Init, &out.Context} {
		if *f, err = cr.substRaw(*f); err != nil {
			return nil, err
		}
	}
	if rs.TelemetryLabels != nil {
		out.TelemetryLabels = map[string]string{}
		for k, v := range rs.TelemetryLabels {
			if out.TelemetryLabels[k], err = cr.vars.str(v); err != nil {
				return nil, err
			}
		}
	}
	out.InputStream = nil
	for _, c := range rs.InputStream {
		s, err := cr.substRaw(c)
		if err != nil {
			return nil, err
		}
		out.InputStream = append(out.InputStream, s)
	}
	return &out, nil
}

// substRaw replaces the variables in a JSON value; nil stays nil.
func (cr *caseRun) substRaw(raw json.RawMessage) (json.RawMessage, error) {
	if raw == nil || !strings.Contains(string(raw), "${") {
		return raw, nil
	}
	v, err := decodeJSON(raw)
	if err != nil {
		return nil, err
	}
	v, err = cr.vars.subst(v)
	if err != nil {
		return nil, err
	}
	return json.Marshal(v)
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return b
}

// trace waits for a complete trace in the sink and observes it.
func (cr *caseRun) trace(ctx context.Context, ts *TraceStep) (map[string]any, error) {
	id, err := cr.vars.str(ts.ID)
	if err != nil {
		return nil, err
	}
	timeout := cr.r.traceTimeout
	if ts.TimeoutMs > 0 {
		timeout = time.Duration(ts.TimeoutMs) * time.Millisecond
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	posts := cr.r.t.Sink.wait(wctx, func(p []SinkPost) bool { return mergeTrace(p, id).complete(ts.MinSpans) })
	complete := mergeTrace(posts, id).complete(ts.MinSpans)
	if complete && ts.SettleMs > 0 {
		// Watch a little longer for posts that must not come.
		t := time.NewTimer(time.Duration(ts.SettleMs) * time.Millisecond)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
		posts = cr.r.t.Sink.Posts()
	}
	return mergeTrace(posts, id).observation(id, complete), nil
}

// runtimeFileObservation describes the runtime file.
func runtimeFileObservation(f *RuntimeFile) map[string]any {
	obs := map[string]any{"name": filepath.Base(f.Path), "healthStatus": f.HealthStatus}
	if f.HealthError != "" {
		obs["healthError"] = f.HealthError
	}
	if v, err := decodeJSON(f.Data); err == nil {
		obs["file"] = v
	} else {
		obs["text"] = string(f.Data)
	}
	if _, err := runtimefile.Parse(f.Data); err != nil {
		obs["valid"] = false
		obs["parseError"] = err.Error()
	} else {
		obs["valid"] = true
	}
	return obs
}

// shutdown stops the runtime once and observes how it ended.
func (r *runner) shutdown(ctx context.Context) map[string]any {
	r.shutdownOnce.Do(func() {
		sctx, cancel := context.WithTimeout(ctx, DefaultShutdownTimeout)
		defer cancel()
		r.shutdownRes, r.shutdownErr = r.t.Shutdown(sctx)
	})
	if r.shutdownErr != nil {
		return map[string]any{"error": r.shutdownErr.Error()}
	}
	s := r.shutdownRes
	obs := map[string]any{"signal": s.Signal, "exited": s.Exited, "killed": s.Killed, "exitCode": s.ExitCode,
		"elapsedMs": s.Elapsed.Milliseconds()}
	if s.RuntimeFileRemoved != nil {
		obs["runtimeFileRemoved"] = *s.RuntimeFileRemoved
	}
	if s.Disconnected != nil {
		obs["disconnected"] = *s.Disconnected
	}
	return obs
}
