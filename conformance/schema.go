package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
	"github.com/genkit-runtime/genkit-runtime/spec"
)

// SchemaSummary counts the messages received from the runtime that were
// validated against the schemas of spec/ (package spec), and those that
// failed. A failing message fails the case whose step received it.
type SchemaSummary struct {
	Messages int `json:"messages"`
	Invalid  int `json:"invalid"`
	// BySchema counts per schema, named by its file (spec.Path).
	BySchema map[string]*SchemaCount `json:"bySchema,omitempty"`
}

// SchemaCount counts the messages validated against one schema.
type SchemaCount struct {
	Messages int `json:"messages"`
	Invalid  int `json:"invalid"`
}

// String is "N messages, M invalid".
func (s *SchemaSummary) String() string {
	return fmt.Sprintf("%d messages, %d invalid", s.Messages, s.Invalid)
}

// Text renders the summary as lines: the counts, then each schema that
// messages failed, with how many.
func (s *SchemaSummary) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "schemas (spec/): %s\n", s)
	for _, p := range slices.Sorted(maps.Keys(s.BySchema)) {
		if c := s.BySchema[p]; c.Invalid > 0 {
			fmt.Fprintf(&b, "    %s: %d of %d invalid\n", p, c.Invalid, c.Messages)
		}
	}
	return b.String()
}

// loadSchemas compiles spec's schemas once.
var loadSchemas = sync.OnceValues(spec.Load)

// schemaCheck validates what a runtime sends: over v1 the bodies the
// steps observe, over v2 every frame the manager received, and the trace
// posts of the sink. It is used from the runner's goroutine only.
type schemaCheck struct {
	s   *spec.Schemas
	sum *SchemaSummary // shared with the checks forked from this one
	// frames and posts are the indexes of the next v2 frame and sink post
	// to validate.
	frames, posts int
	// methods maps the JSON text of each request id the manager sent to
	// the request's method, to pick the schema of the response.
	methods map[string]string
}

func newSchemaCheck() (*schemaCheck, error) {
	s, err := loadSchemas()
	if err != nil {
		return nil, err
	}
	return &schemaCheck{s: s, sum: &SchemaSummary{BySchema: map[string]*SchemaCount{}}, methods: map[string]string{}}, nil
}

// fork returns a check for another target, such as a runtime a case
// launches for itself: it reads that target's frames and posts from their
// start, and counts into the same summary.
func (sc *schemaCheck) fork() *schemaCheck {
	return &schemaCheck{s: sc.s, sum: sc.sum, methods: map[string]string{}}
}

// summary returns the counts so far.
func (sc *schemaCheck) summary() *SchemaSummary {
	out := *sc.sum
	out.BySchema = map[string]*SchemaCount{}
	for k, v := range sc.sum.BySchema {
		c := *v
		out.BySchema[k] = &c
	}
	return &out
}

// validate checks value, found at where, against the named schema and
// returns the mismatch of an invalid message.
func (sc *schemaCheck) validate(name, where string, value any) []Mismatch {
	v, err := plainJSON(value)
	if err == nil {
		err = sc.s.Validate(name, v)
	}
	p := spec.Path(name)
	c := sc.sum.BySchema[p]
	if c == nil {
		c = &SchemaCount{}
		sc.sum.BySchema[p] = c
	}
	c.Messages++
	sc.sum.Messages++
	if err == nil {
		return nil
	}
	c.Invalid++
	sc.sum.Invalid++
	got, _ := json.Marshal(trim(value, 0))
	why := strings.Join(strings.Fields(strings.TrimPrefix(err.Error(), p+": ")), " ")
	return []Mismatch{{Path: where, Want: "a message valid against " + p, Got: cut(string(got), 300),
		Reason: "schema: " + cut(why, 600)}}
}

// plainJSON turns a decoded observation value (json.Number for numbers)
// into what the validator takes (float64).
func plainJSON(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	var out any
	err = json.Unmarshal(b, &out)
	return out, err
}

// setupProblems validates the v2 frames and trace posts received while
// the suite set the runtime up, before any case, and describes the
// invalid ones.
func (sc *schemaCheck) setupProblems(r *runner) []string {
	var out []string
	for _, m := range sc.pending(r) {
		out = append(out, fmt.Sprintf("before the cases: %s", m.String()))
	}
	return out
}

// step validates the messages of one step: the bodies in its observation
// (v1), and the v2 frames and trace posts received since the last step.
func (sc *schemaCheck) step(cr *caseRun, s *Step, obs map[string]any) []Mismatch {
	var out []Mismatch
	kind, _ := s.action()
	if cr.r.t.Transport == V1 {
		switch kind {
		case "http":
			path, _ := cr.vars.str(s.HTTP.Path)
			out = append(out, sc.v1Body(s.HTTP.Method, path, obs)...)
		case "run", "await":
			out = append(out, sc.v1Body(http.MethodPost, "/api/runAction", obs)...)
		case "cancel":
			out = append(out, sc.v1Body(http.MethodPost, "/api/cancelAction", obs)...)
		}
	}
	switch kind {
	case "runtimeFile":
		if f, ok := obs["file"]; ok {
			out = append(out, sc.validate("RuntimeInfo", "file", f)...)
		}
	case "register":
		if req, ok := obs["request"].(map[string]any); ok {
			out = append(out, sc.validate("rules/JsonRpcRequest", "request", req)...)
			if p, ok := req["params"]; ok {
				out = append(out, sc.validate("ReflectionRegisterParams", "request.params", p)...)
			}
		}
	}
	return append(out, sc.pending(cr.r)...)
}

// v1Body validates the body of a v1 exchange by its route and status.
func (sc *schemaCheck) v1Body(method, path string, obs map[string]any) []Mismatch {
	path, _, _ = strings.Cut(path, "?")
	status, _ := obs["status"].(int)
	body, isJSON := obs["json"]
	switch {
	case method == http.MethodGet && path == "/api/actions" && status == http.StatusOK && isJSON:
		m, ok := body.(map[string]any)
		if !ok {
			return sc.validate("rules/ValuesResponse", "json", body)
		}
		var out []Mismatch
		for _, k := range sortedKeys(m) {
			out = append(out, sc.validate("Action", fmt.Sprintf("json[%q]", k), m[k])...)
		}
		return out
	case method == http.MethodGet && path == "/api/values" && status == http.StatusOK && isJSON:
		return sc.validate("rules/ValuesResponse", "json", body)
	case method == http.MethodPost && path == "/api/cancelAction" && status == http.StatusOK && isJSON:
		return sc.validate("ReflectionCancelActionResponse", "json", body)
	case method == http.MethodPost && path == "/api/runAction" && status == http.StatusOK:
		// The final object of a body or stream; its absence is the
		// framing cases' to report.
		if f, ok := obs["final"]; ok {
			return sc.validate("rules/RunActionFinal", "final", f)
		}
	case method == http.MethodPost && path == "/api/runAction" && status >= 400 && isJSON:
		return sc.validate("rules/ErrorStatus", "json", body)
	}
	return nil
}

// pending validates the v2 frames the manager received and the trace
// posts the sink got since the last call.
func (sc *schemaCheck) pending(r *runner) []Mismatch {
	var out []Mismatch
	if r.t.Messages != nil {
		msgs := r.t.Messages.Messages()
		for i := sc.frames; i < len(msgs); i++ {
			out = append(out, sc.frame(msgs[i], i)...)
		}
		sc.frames = len(msgs)
	}
	posts := r.t.Sink.Posts()
	for i := sc.posts; i < len(posts); i++ {
		where := fmt.Sprintf("trace post %d", i)
		v, err := decodeJSON(posts[i].Body)
		if err != nil {
			out = append(out, sc.notJSON("TraceData", where, posts[i].Body)...)
			continue
		}
		out = append(out, sc.validate("TraceData", where, v)...)
	}
	sc.posts = len(posts)
	return out
}

func (sc *schemaCheck) notJSON(name, where string, data []byte) []Mismatch {
	return sc.validate(name, where, "<not JSON: "+cut(string(data), 100)+">")
}

// frame validates one v2 frame: the envelope, then the params of a request
// or notification from the runtime, or the result or error of its answer
// to a request the manager sent.
func (sc *schemaCheck) frame(m v2manager.Message, i int) []Mismatch {
	v, err := decodeJSON(m.Data)
	o, isObj := v.(map[string]any)
	if m.Direction == v2manager.Sent {
		if isObj {
			if method, ok := o["method"].(string); ok && o["id"] != nil {
				sc.methods[idKey(o["id"])] = method
			}
		}
		return nil
	}
	where := fmt.Sprintf("v2 frame %d", i)
	if err != nil || !isObj {
		return sc.notJSON("rules/JsonRpcResponse", where, m.Data)
	}
	method, isCall := o["method"].(string)
	if isCall {
		_, hasID := o["id"]
		params, hasParams := o["params"]
		name := "rules/JsonRpcNotification"
		if hasID {
			name = "rules/JsonRpcRequest"
		}
		out := sc.validate(name, where+" ("+method+")", o)
		if p := paramsSchema[method]; p != "" && hasParams {
			out = append(out, sc.validate(p, where+" ("+method+").params", params)...)
		} else if p != "" {
			out = append(out, sc.validate(p, where+" ("+method+").params", map[string]any{})...)
		}
		return out
	}
	method = sc.methods[idKey(o["id"])]
	label := where + " (response"
	if method != "" {
		label += " to " + method
	}
	label += ")"
	out := sc.validate("rules/JsonRpcResponse", label, o)
	if res, ok := o["result"]; ok {
		if name := resultSchema[method]; name != "" {
			if method == "listActions" {
				res = dropNullMetadata(res)
			}
			out = append(out, sc.validate(name, label+".result", res)...)
		}
	} else if e, ok := o["error"].(map[string]any); ok && method == "runAction" {
		if c, _ := e["code"].(json.Number); c.String() == "-32000" {
			out = append(out, sc.validate("rules/JsonRpcRunError", label+".error", e)...)
		}
	}
	return out
}

// The schemas of the params of what a runtime sends, and of its results.
var (
	paramsSchema = map[string]string{
		"register":       "ReflectionRegisterParams",
		"runActionState": "ReflectionRunActionStateParams",
		"streamChunk":    "ReflectionStreamChunkParams",
	}
	resultSchema = map[string]string{
		"listActions":  "ReflectionListActionsResponse",
		"listValues":   "ReflectionListValuesResponse",
		"cancelAction": "ReflectionCancelActionResponse",
		"runAction":    "rules/RunActionSuccess",
	}
)

// dropNullMetadata removes "metadata": null from listed actions, as the
// CLI (1.43, manager-v2.ts normalizeListActionsResult) does before it
// validates a listing.
func dropNullMetadata(res any) any {
	o, ok := res.(map[string]any)
	if !ok {
		return res
	}
	acts, ok := o["actions"].(map[string]any)
	if !ok {
		return res
	}
	copied := map[string]any{}
	for k, a := range acts {
		if d, ok := a.(map[string]any); ok {
			if md, has := d["metadata"]; has && md == nil {
				c := map[string]any{}
				for dk, dv := range d {
					if dk != "metadata" {
						c[dk] = dv
					}
				}
				a = c
			}
		}
		copied[k] = a
	}
	out := map[string]any{}
	for k, v := range o {
		out[k] = v
	}
	out["actions"] = copied
	return out
}

// idKey is the JSON text of a decoded id, so that "7" and 7 differ.
func idKey(id any) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	if err := enc.Encode(id); err != nil {
		return ""
	}
	return strings.TrimSpace(b.String())
}
