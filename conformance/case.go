package conformance

import (
	"bytes"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"slices"
	"strings"
)

// Transport is a Reflection API transport.
type Transport string

// The transports.
const (
	// V1 is the HTTP API: the runtime serves, the suite is the client.
	V1 Transport = "v1"
	// V2 is WebSocket JSON-RPC: the suite is the manager the runtime dials.
	V2 Transport = "v2"
)

// Capabilities a case may need from its target besides the runtime's
// actions (Case.Needs). A case needing one the target lacks is
// unsupported.
const (
	// NeedRuntimeFile: the runtime was discovered through its runtime
	// file (a launched v1 runtime).
	NeedRuntimeFile = "runtimeFile"
	// NeedProcess: the suite started the runtime and can stop it.
	NeedProcess = "process"
)

// Suite is a set of cases, in ID order.
type Suite struct {
	Cases []*Case
}

// Case is one conformance case: a request or a short exchange with a
// runtime, and the assertions on what comes back. Cases are JSON files;
// see the package documentation for the format.
type Case struct {
	// ID is the file's path under the suite folder, without ".json",
	// such as "v1/run-echo".
	ID string `json:"-"`
	// Title says in one line what the case checks.
	Title string `json:"title"`
	// Rules cite the rules checked, such as "protocol.md §1.3".
	Rules []string `json:"rules"`
	// Transport restricts the case to one transport; empty means both.
	Transport Transport `json:"transport,omitempty"`
	// Requires lists the action keys the case needs. An entry may offer
	// alternatives separated by '|'. When the runtime's listing has none
	// of an entry's keys, the case is unsupported.
	Requires []string `json:"requires,omitempty"`
	// Needs lists target capabilities (NeedRuntimeFile, NeedProcess).
	Needs []string `json:"needs,omitempty"`
	// Launch, if set, makes the case control how the runtime is
	// launched: it runs against a runtime of its own, started for it with
	// these settings and stopped after it. The case is unsupported when
	// the suite did not start the runtime under test (Target.Launch).
	Launch *Launch `json:"launch,omitempty"`
	// Notes explains a subtle point of the case; it is not checked.
	Notes string `json:"notes,omitempty"`
	// Steps run in order. After a step fails, the following steps run only
	// if they are marked Always.
	Steps []*Step `json:"steps"`

	digest [sha256.Size]byte // of the compacted case file, for Suite.Version
}

// Launch is how a case starts its own runtime.
type Launch struct {
	// Env holds environment variables to set for the runtime, besides
	// those the harness sets. The harness's own GENKIT_ENV and
	// GENKIT_REFLECTION_V2_SERVER cannot be set here.
	Env map[string]string `json:"env,omitempty"`
	// ManagerDelayMs (v2) starts the manager only this long after the
	// runtime, so the runtime's first dials fail, as when it is started
	// before the Genkit CLI listens.
	ManagerDelayMs int `json:"managerDelayMs,omitempty"`
}

// reservedEnv are the variables the harness sets itself.
var reservedEnv = []string{"GENKIT_ENV", "GENKIT_REFLECTION_V2_SERVER"}

// Step is one exchange of a case and its assertions. Exactly one of HTTP,
// Run, Start, Cancel, Await, HangUp, RPC, Notify, Trace, RuntimeFile, Register and
// Shutdown is set.
type Step struct {
	// Name labels the step in reports.
	Name string `json:"name,omitempty"`

	// HTTP sends one HTTP request (v1).
	HTTP *HTTPStep `json:"http,omitempty"`
	// Run runs an action and waits for its outcome, over either transport.
	Run *RunStep `json:"run,omitempty"`
	// Start starts a run in the background, under the name Start.As,
	// and returns once its trace id is known.
	Start *RunStep `json:"start,omitempty"`
	// Cancel cancels a started run, or a trace id.
	Cancel *CancelStep `json:"cancel,omitempty"`
	// Await waits for the outcome of the named started run.
	Await string `json:"await,omitempty"`
	// HangUp closes the connection of the named started run (v1), as a
	// client that goes away mid-run does, and waits until it is closed.
	HangUp string `json:"hangUp,omitempty"`
	// RPC sends one JSON-RPC request (v2).
	RPC *RPCStep `json:"rpc,omitempty"`
	// Notify sends one JSON-RPC notification (v2).
	Notify *NotifyStep `json:"notify,omitempty"`
	// Trace waits for a trace to reach the telemetry sink.
	Trace *TraceStep `json:"trace,omitempty"`
	// RuntimeFile observes the runtime file the runtime was discovered by.
	RuntimeFile *struct{} `json:"runtimeFile,omitempty"`
	// Register observes the runtime's v2 register exchange.
	Register *struct{} `json:"register,omitempty"`
	// Shutdown stops the runtime (SIGTERM) and observes how it ends.
	// Cases with a shutdown step run after all others.
	Shutdown *struct{} `json:"shutdown,omitempty"`

	// Expect is the pattern the step's observation must match.
	Expect json.RawMessage `json:"expect,omitempty"`
	// ExpectV1 and ExpectV2 are further patterns for one transport.
	ExpectV1 json.RawMessage `json:"expectV1,omitempty"`
	ExpectV2 json.RawMessage `json:"expectV2,omitempty"`
	// Save stores values of the observation in variables: name → path.
	Save map[string]string `json:"save,omitempty"`
	// Always runs the step even after an earlier step failed, as for
	// cleanup.
	Always bool `json:"always,omitempty"`

	expect, expectV1, expectV2 any // decoded patterns
}

// HTTPStep is an HTTP request to the runtime's reflection server.
type HTTPStep struct {
	Method string `json:"method"`
	// Path is the path and query, such as "/api/__health?id=x".
	Path    string            `json:"path"`
	Headers map[string]string `json:"headers,omitempty"`
	// JSON is a body sent as is, with Content-Type application/json
	// unless Headers say otherwise. Variables are replaced in it.
	JSON json.RawMessage `json:"json,omitempty"`
	// Body is a raw body, sent byte for byte.
	Body *string `json:"body,omitempty"`
	// Fill makes a large body.
	Fill *Fill `json:"fill,omitempty"`
}

// Fill is a body of exactly Bytes bytes: Template with its one "@FILL@"
// replaced by as many 'x' as needed.
type Fill struct {
	Template string `json:"template"`
	Bytes    int64  `json:"bytes"`
}

// fillMarker is the placeholder of Fill.Template.
const fillMarker = "@FILL@"

// RunStep runs an action: POST /api/runAction (v1) or the runAction
// request (v2). Variables are replaced in every field.
type RunStep struct {
	Key             string            `json:"key"`
	Input           json.RawMessage   `json:"input,omitempty"`
	Init            json.RawMessage   `json:"init,omitempty"`
	Context         json.RawMessage   `json:"context,omitempty"`
	TelemetryLabels map[string]string `json:"telemetryLabels,omitempty"`
	// RuntimeID is sent as runtimeId, as the CLI does.
	RuntimeID string `json:"runtimeId,omitempty"`
	Stream    bool   `json:"stream,omitempty"`
	// InputStream makes a bidirectional run (v2): streamInput is set, the
	// chunks are sent once the run has started, then the input ends.
	InputStream []json.RawMessage `json:"inputStream,omitempty"`
	// As names a started run (Start only).
	As string `json:"as,omitempty"`
	// TimeoutMs bounds the run; if zero, 30 s.
	TimeoutMs int `json:"timeoutMs,omitempty"`
}

// CancelStep cancels a run: POST /api/cancelAction (v1) or the
// cancelAction request (v2).
type CancelStep struct {
	// Run names a started run, whose trace id is sent.
	Run string `json:"run,omitempty"`
	// TraceID is sent when Run is empty.
	TraceID *string `json:"traceId,omitempty"`
}

// RPCStep is a JSON-RPC request to the runtime (v2).
type RPCStep struct {
	Method string `json:"method"`
	// Params are sent as is (variables replaced); absent leaves them out.
	Params json.RawMessage `json:"params,omitempty"`
	// ID is the request id, a string or a number; if absent, the
	// manager's next string id.
	ID json.RawMessage `json:"id,omitempty"`
}

// NotifyStep is a JSON-RPC notification to the runtime (v2).
type NotifyStep struct {
	Method string          `json:"method"`
	Params json.RawMessage `json:"params,omitempty"`
	// SettleMs is how long to watch for an answer the runtime must not
	// send; if zero, 200 ms.
	SettleMs int `json:"settleMs,omitempty"`
}

// TraceStep waits until the telemetry sink holds a complete trace: its
// root span and every span received have ended, and there are at least
// MinSpans spans.
type TraceStep struct {
	// ID is the trace id, usually a variable such as "${traceId}".
	ID       string `json:"id"`
	MinSpans int    `json:"minSpans,omitempty"`
	// TimeoutMs bounds the wait; if zero, 5 s.
	TimeoutMs int `json:"timeoutMs,omitempty"`
	// SettleMs waits this much longer once the trace is complete, to see
	// posts that should not come (duplicates).
	SettleMs int `json:"settleMs,omitempty"`
}

// action returns the kind of the step's action.
func (s *Step) action() (string, error) {
	var kinds []string
	add := func(set bool, k string) {
		if set {
			kinds = append(kinds, k)
		}
	}
	add(s.HTTP != nil, "http")
	add(s.Run != nil, "run")
	add(s.Start != nil, "start")
	add(s.Cancel != nil, "cancel")
	add(s.Await != "", "await")
	add(s.HangUp != "", "hangUp")
	add(s.RPC != nil, "rpc")
	add(s.Notify != nil, "notify")
	add(s.Trace != nil, "trace")
	add(s.RuntimeFile != nil, "runtimeFile")
	add(s.Register != nil, "register")
	add(s.Shutdown != nil, "shutdown")
	if len(kinds) != 1 {
		return "", fmt.Errorf("a step needs exactly one action, has %v", kinds)
	}
	return kinds[0], nil
}

// label names the step in reports: its Name, else its action.
func (s *Step) label(i int) string {
	if s.Name != "" {
		return fmt.Sprintf("step %d (%s)", i+1, s.Name)
	}
	k, _ := s.action()
	return fmt.Sprintf("step %d (%s)", i+1, k)
}

// hasShutdown reports whether the case stops the runtime.
func (c *Case) hasShutdown() bool {
	return slices.ContainsFunc(c.Steps, func(s *Step) bool { return s.Shutdown != nil })
}

// Applies reports whether the case runs over transport t.
func (c *Case) Applies(t Transport) bool { return c.Transport == "" || c.Transport == t }

// ParseCase decodes and checks a case file. id becomes the case's ID.
// Unknown members are errors, so a misspelt assertion cannot pass
// silently.
func ParseCase(id string, data []byte) (*Case, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var c Case
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("case %s: %w", id, err)
	}
	if dec.More() {
		return nil, fmt.Errorf("case %s: data after the case object", id)
	}
	c.ID = id
	if err := c.check(); err != nil {
		return nil, fmt.Errorf("case %s: %w", id, err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, data); err != nil {
		return nil, fmt.Errorf("case %s: %w", id, err)
	}
	c.digest = sha256.Sum256(compact.Bytes())
	return &c, nil
}

func (c *Case) check() error {
	if strings.TrimSpace(c.Title) == "" {
		return errors.New("title is required")
	}
	if len(c.Rules) == 0 {
		return errors.New("rules are required: cite what the case checks")
	}
	for _, r := range c.Rules {
		if strings.TrimSpace(r) == "" {
			return errors.New("empty rule")
		}
	}
	switch c.Transport {
	case "", V1, V2:
	default:
		return fmt.Errorf("transport %q: want v1, v2 or none", c.Transport)
	}
	for _, n := range c.Needs {
		if n != NeedRuntimeFile && n != NeedProcess {
			return fmt.Errorf("needs %q: want %s or %s", n, NeedRuntimeFile, NeedProcess)
		}
	}
	for _, r := range c.Requires {
		if !strings.HasPrefix(r, "/") {
			return fmt.Errorf("requires %q: want action keys", r)
		}
	}
	if len(c.Steps) == 0 {
		return errors.New("steps are required")
	}
	if c.Launch != nil {
		for k := range c.Launch.Env {
			if k == "" || strings.ContainsAny(k, "=\x00") || slices.Contains(reservedEnv, k) {
				return fmt.Errorf("launch: cannot set the variable %q", k)
			}
		}
		if c.Launch.ManagerDelayMs < 0 || (c.Launch.ManagerDelayMs > 0 && c.Transport != V2) {
			return errors.New("launch: managerDelayMs is a positive delay, for transport v2")
		}
	}
	started := map[string]bool{}
	for i, s := range c.Steps {
		if s == nil {
			return fmt.Errorf("step %d is null", i+1)
		}
		if err := s.check(c, started); err != nil {
			return fmt.Errorf("step %d: %w", i+1, err)
		}
	}
	if c.hasShutdown() && !slices.Contains(c.Needs, NeedProcess) {
		return errors.New("a shutdown step needs the process capability")
	}
	return nil
}

func (s *Step) check(c *Case, started map[string]bool) error {
	kind, err := s.action()
	if err != nil {
		return err
	}
	v1Only := kind == "http" || kind == "runtimeFile" || kind == "hangUp"
	v2Only := kind == "rpc" || kind == "notify" || kind == "register"
	switch {
	case v1Only && c.Transport != V1:
		return fmt.Errorf("%s is a v1 action; set the case's transport to v1", kind)
	case v2Only && c.Transport != V2:
		return fmt.Errorf("%s is a v2 action; set the case's transport to v2", kind)
	}
	switch kind {
	case "http":
		h := s.HTTP
		if h.Method == "" || !strings.HasPrefix(h.Path, "/") {
			return errors.New("http needs a method and a path starting with /")
		}
		bodies := 0
		for _, set := range []bool{h.JSON != nil, h.Body != nil, h.Fill != nil} {
			if set {
				bodies++
			}
		}
		if bodies > 1 {
			return errors.New("http takes one of json, body and fill")
		}
		if h.Fill != nil && (strings.Count(h.Fill.Template, fillMarker) != 1 || h.Fill.Bytes < int64(len(h.Fill.Template)-len(fillMarker))) {
			return fmt.Errorf("fill needs a template with one %s and bytes at least its length", fillMarker)
		}
		if h.JSON != nil && !json.Valid(h.JSON) {
			return errors.New("http json is not valid JSON")
		}
	case "run", "start":
		r := s.Run
		if kind == "start" {
			r = s.Start
			if r.As == "" {
				return errors.New("start needs as, the run's name")
			}
			if started[r.As] {
				return fmt.Errorf("run %q started twice", r.As)
			}
			started[r.As] = true
		} else if r.As != "" {
			return errors.New("as is for start steps")
		}
		if r.Key == "" {
			return errors.New("run needs a key")
		}
		if len(r.InputStream) > 0 && c.Transport != V2 {
			return errors.New("inputStream needs transport v2")
		}
	case "cancel":
		if (s.Cancel.Run == "") == (s.Cancel.TraceID == nil) {
			return errors.New("cancel takes one of run and traceId")
		}
		if s.Cancel.Run != "" && !started[s.Cancel.Run] {
			return fmt.Errorf("cancel of run %q, which no earlier step starts", s.Cancel.Run)
		}
	case "await":
		if !started[s.Await] {
			return fmt.Errorf("await of run %q, which no earlier step starts", s.Await)
		}
	case "hangUp":
		if !started[s.HangUp] {
			return fmt.Errorf("hangUp of run %q, which no earlier step starts", s.HangUp)
		}
	case "rpc":
		if s.RPC.Method == "" {
			return errors.New("rpc needs a method")
		}
		if s.RPC.ID != nil {
			if _, err := parseRPCID(s.RPC.ID); err != nil {
				return err
			}
		}
	case "notify":
		if s.Notify.Method == "" {
			return errors.New("notify needs a method")
		}
	case "trace":
		if s.Trace.ID == "" {
			return errors.New("trace needs an id")
		}
	}
	for _, p := range []struct {
		raw json.RawMessage
		dst *any
		ok  bool
	}{{s.Expect, &s.expect, true}, {s.ExpectV1, &s.expectV1, c.Transport != V2}, {s.ExpectV2, &s.expectV2, c.Transport != V1}} {
		if p.raw == nil {
			continue
		}
		if !p.ok {
			return errors.New("expectation for a transport the case does not run over")
		}
		v, err := decodeJSON(p.raw)
		if err != nil {
			return fmt.Errorf("expect: %w", err)
		}
		if err := checkPattern(v); err != nil {
			return fmt.Errorf("expect: %w", err)
		}
		*p.dst = v
	}
	if s.Expect == nil && s.ExpectV1 == nil && s.ExpectV2 == nil && len(s.Save) == 0 && kind != "start" && kind != "shutdown" {
		return errors.New("a step needs an expectation or a save")
	}
	for name, p := range s.Save {
		if name == "" || strings.ContainsAny(name, "${}") {
			return fmt.Errorf("save: bad variable name %q", name)
		}
		if _, err := parsePath(p); err != nil {
			return fmt.Errorf("save %s: %w", name, err)
		}
	}
	return nil
}

// Load reads every *.json file under fsys (recursively) as a case; a
// case's ID is its path without the extension. Files and folders whose
// names begin with '.' or '_' are skipped.
func Load(fsys fs.FS) (*Suite, error) {
	s := &Suite{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		base := d.Name()
		if p != "." && (strings.HasPrefix(base, ".") || strings.HasPrefix(base, "_")) {
			if d.IsDir() {
				return fs.SkipDir
			}
			return nil
		}
		if d.IsDir() || path.Ext(p) != ".json" {
			return nil
		}
		data, err := fs.ReadFile(fsys, p)
		if err != nil {
			return err
		}
		c, err := ParseCase(strings.TrimSuffix(p, ".json"), data)
		if err != nil {
			return err
		}
		s.Cases = append(s.Cases, c)
		return nil
	})
	if err != nil {
		return nil, err
	}
	if len(s.Cases) == 0 {
		return nil, errors.New("conformance: no cases found")
	}
	slices.SortFunc(s.Cases, func(a, b *Case) int { return strings.Compare(a.ID, b.ID) })
	return s, nil
}

// LoadDir loads the cases under the folder dir; see Load.
func LoadDir(dir string) (*Suite, error) {
	return Load(os.DirFS(dir))
}

// Filter returns the suite's cases for which keep returns true.
func (s *Suite) Filter(keep func(*Case) bool) *Suite {
	out := &Suite{}
	for _, c := range s.Cases {
		if keep(c) {
			out.Cases = append(out.Cases, c)
		}
	}
	return out
}
