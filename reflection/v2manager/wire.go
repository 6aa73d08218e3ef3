package v2manager

import (
	"bytes"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/sourcegraph/jsonrpc2"

	"github.com/genkit-runtime/genkit-runtime/internal/jsontext"
)

// ID is a JSON-RPC request id: a string, or a non-negative integer. The
// Genkit CLI always uses strings ("1", "2", ...), which is what the
// manager sends unless a call says otherwise ([WithID]).
type ID struct {
	str   string
	num   uint64
	isNum bool
}

// StringID returns the id s.
func StringID(s string) ID { return ID{str: s} }

// NumberID returns the numeric id n.
func NumberID(n uint64) ID { return ID{num: n, isNum: true} }

// IsNumber reports whether the id is numeric.
func (id ID) IsNumber() bool { return id.isNum }

// String returns the id as runtimes copy it into the requestId of their
// notifications: the string itself, or the number in decimal.
func (id ID) String() string {
	if id.isNum {
		return strconv.FormatUint(id.num, 10)
	}
	return id.str
}

// MarshalJSON encodes the id as a JSON string or number.
func (id ID) MarshalJSON() ([]byte, error) {
	if id.isNum {
		return []byte(strconv.FormatUint(id.num, 10)), nil
	}
	return json.Marshal(id.str)
}

func (id ID) rpc() jsonrpc2.ID {
	if id.isNum {
		return jsonrpc2.ID{Num: id.num}
	}
	return jsonrpc2.ID{Str: id.str, IsString: true}
}

func idOf(id jsonrpc2.ID) ID {
	if id.IsString {
		return StringID(id.Str)
	}
	return NumberID(id.Num)
}

// RuntimeInfo is what a runtime registered.
type RuntimeInfo struct {
	ID                       string
	PID                      int
	Name                     string
	GenkitVersion            string
	ReflectionAPISpecVersion int
	Envs                     []string
}

// Action is an action descriptor from listActions.
type Action struct {
	Key          string          `json:"key"`
	Name         string          `json:"name"`
	Description  string          `json:"description,omitempty"`
	InputSchema  json.RawMessage `json:"inputSchema,omitempty"`
	OutputSchema json.RawMessage `json:"outputSchema,omitempty"`
	Metadata     map[string]any  `json:"metadata,omitempty"`
}

// fields is a JSON object, member by member, for validation.
type fields map[string]json.RawMessage

// kind names the JSON type of raw, as zod reports it.
func kind(raw json.RawMessage) string {
	if k := jsontext.Kind(raw); k != "" {
		return k
	}
	return "undefined"
}

// objectFields decodes raw as a JSON object.
func objectFields(what string, raw json.RawMessage) (fields, error) {
	if k := kind(raw); k != "object" {
		return nil, fmt.Errorf("%s: expected object, received %s", what, k)
	}
	var f fields
	if err := json.Unmarshal(raw, &f); err != nil {
		return nil, fmt.Errorf("%s: %v", what, err)
	}
	return f, nil
}

// check validates member name against the allowed kinds, zod style:
// "undefined" in allowed means the member may be absent (optional), "null"
// that it may be null.
func (f fields) check(what, name string, allowed ...string) error {
	raw, ok := f[name]
	k := "undefined"
	if ok {
		k = kind(raw)
	}
	if !slices.Contains(allowed, k) {
		return fmt.Errorf("%s.%s: expected %s, received %s", what, name, strings.Join(allowed, " | "), k)
	}
	return nil
}

// checkAll runs checks and returns the first error.
func checkAll(errs ...error) error {
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

// decodeActions validates a listActions result the way the Genkit CLI
// (1.43) does (ReflectionListActionsResponseSchema after dropping
// metadata:null) and decodes it. A key whose descriptor lacks one gets the
// map key, as the CLI does.
func decodeActions(raw json.RawMessage) (map[string]Action, error) {
	top, err := objectFields("result", raw)
	if err != nil {
		return nil, err
	}
	actions, err := objectFields("result.actions", top["actions"])
	if err != nil {
		return nil, err
	}
	out := make(map[string]Action, len(actions))
	for key, raw := range actions {
		what := "result.actions[" + strconv.Quote(key) + "]"
		f, err := objectFields(what, raw)
		if err != nil {
			return nil, err
		}
		if string(bytes.TrimSpace(f["metadata"])) == "null" {
			delete(f, "metadata")
		}
		if err := checkAll(
			f.check(what, "key", "undefined", "string"),
			f.check(what, "actionType", "undefined", "string"),
			f.check(what, "name", "string"),
			f.check(what, "description", "undefined", "string"),
			f.check(what, "inputJsonSchema", "undefined", "null", "object"),
			f.check(what, "outputJsonSchema", "undefined", "null", "object"),
			f.check(what, "metadata", "undefined", "object"),
		); err != nil {
			return nil, err
		}
		if md, ok := f["metadata"]; ok {
			if err := checkMetadata(what+".metadata", md); err != nil {
				return nil, err
			}
		}
		// Member by member: encoding/json would also match other cases
		// ("MetaData"), which the CLI strips as unknown.
		var a Action
		for name, dst := range map[string]any{"key": &a.Key, "name": &a.Name, "description": &a.Description, "metadata": &a.Metadata} {
			if raw, ok := f[name]; ok {
				if err := json.Unmarshal(raw, dst); err != nil {
					return nil, fmt.Errorf("%s.%s: %v", what, name, err)
				}
			}
		}
		a.InputSchema, a.OutputSchema = f["inputSchema"], f["outputSchema"]
		if a.Key == "" {
			a.Key = key
		}
		out[key] = a
	}
	return out, nil
}

// checkMetadata applies the CLI's z.record(z.string(), CustomAnySchema):
// every value is a string, number, boolean or object, or an array of
// those; never null, and no nested arrays.
func checkMetadata(what string, raw json.RawMessage) error {
	f, err := objectFields(what, raw)
	if err != nil {
		return err
	}
	singular := []string{"string", "number", "boolean", "object"}
	for name, v := range f {
		switch k := kind(v); {
		case slices.Contains(singular, k):
		case k == "array":
			var items []json.RawMessage
			if err := json.Unmarshal(v, &items); err != nil {
				return fmt.Errorf("%s.%s: %v", what, name, err)
			}
			for i, it := range items {
				if ik := kind(it); !slices.Contains(singular, ik) {
					return fmt.Errorf("%s.%s[%d]: expected string | number | boolean | object, received %s", what, name, i, ik)
				}
			}
		default:
			return fmt.Errorf("%s.%s: expected string | number | boolean | object | array, received %s", what, name, k)
		}
	}
	return nil
}

// decodeValues validates and decodes a listValues result
// (ReflectionListValuesResponseSchema: values is a record).
func decodeValues(raw json.RawMessage) (map[string]json.RawMessage, error) {
	top, err := objectFields("result", raw)
	if err != nil {
		return nil, err
	}
	values, err := objectFields("result.values", top["values"])
	if err != nil {
		return nil, err
	}
	return values, nil
}

// decodeCancel validates and decodes a cancelAction result
// (ReflectionCancelActionResponseSchema).
func decodeCancel(raw json.RawMessage) (string, error) {
	top, err := objectFields("result", raw)
	if err != nil {
		return "", err
	}
	if err := top.check("result", "message", "string"); err != nil {
		return "", err
	}
	var msg string
	err = json.Unmarshal(top["message"], &msg)
	return msg, err
}

// decodeRunResult validates and decodes a runAction result
// (RunActionResponseSchema).
func decodeRunResult(raw json.RawMessage) (*RunResult, error) {
	top, err := objectFields("result", raw)
	if err != nil {
		return nil, err
	}
	if err := checkAll(
		top.check("result", "telemetry", "undefined", "object"),
		top.check("result", "genkitVersion", "undefined", "string"),
	); err != nil {
		return nil, err
	}
	res := &RunResult{Raw: raw}
	if r, ok := top["result"]; ok {
		res.Result = r
	}
	if t, ok := top["telemetry"]; ok {
		tf, err := objectFields("result.telemetry", t)
		if err != nil {
			return nil, err
		}
		if err := tf.check("result.telemetry", "traceId", "undefined", "string"); err != nil {
			return nil, err
		}
		if id, ok := tf["traceId"]; ok {
			if err := json.Unmarshal(id, &res.TraceID); err != nil {
				return nil, err
			}
		}
	}
	return res, nil
}

// decodeRunResultUnchecked decodes a runAction result without validating
// it ([Options.SkipValidation]).
func decodeRunResultUnchecked(raw json.RawMessage) (*RunResult, error) {
	var v struct {
		Result    json.RawMessage `json:"result"`
		Telemetry struct {
			TraceID string `json:"traceId"`
		} `json:"telemetry"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, fmt.Errorf("result: %v", err)
	}
	return &RunResult{Raw: raw, Result: v.Result, TraceID: v.Telemetry.TraceID}, nil
}

// decodeRegister validates and decodes register params
// (ReflectionRegisterParamsSchema).
func decodeRegister(raw json.RawMessage) (RuntimeInfo, error) {
	f, err := objectFields("params", raw)
	if err != nil {
		return RuntimeInfo{}, err
	}
	if err := checkAll(
		f.check("params", "id", "string"),
		f.check("params", "pid", "number"),
		f.check("params", "name", "undefined", "string"),
		f.check("params", "genkitVersion", "undefined", "string"),
		f.check("params", "reflectionApiSpecVersion", "undefined", "number"),
		f.check("params", "envs", "undefined", "array"),
	); err != nil {
		return RuntimeInfo{}, err
	}
	if envs, ok := f["envs"]; ok {
		// z.array(z.string()): encoding/json would take a null as "".
		var items []json.RawMessage
		if err := json.Unmarshal(envs, &items); err != nil {
			return RuntimeInfo{}, fmt.Errorf("params.envs: %v", err)
		}
		for i, it := range items {
			if k := kind(it); k != "string" {
				return RuntimeInfo{}, fmt.Errorf("params.envs[%d]: expected string, received %s", i, k)
			}
		}
	}
	var info RuntimeInfo
	var pid, version float64
	for name, dst := range map[string]any{"id": &info.ID, "pid": &pid, "name": &info.Name, "genkitVersion": &info.GenkitVersion,
		"reflectionApiSpecVersion": &version, "envs": &info.Envs} {
		if raw, ok := f[name]; ok {
			if err := json.Unmarshal(raw, dst); err != nil {
				return RuntimeInfo{}, fmt.Errorf("params.%s: %v", name, err)
			}
		}
	}
	info.PID, info.ReflectionAPISpecVersion = int(pid), int(version)
	return info, nil
}

// notificationParams are the params of runActionState and streamChunk.
type notificationParams struct {
	RequestID string
	State     *RunState // nil when absent
	Chunk     json.RawMessage
}

// decodeNotification validates and decodes the params of runActionState
// and streamChunk (ReflectionRunActionStateParamsSchema,
// ReflectionStreamChunkParamsSchema): requestId is a string; a state, when
// present, is an object whose traceId is a string when present.
func decodeNotification(method string, raw json.RawMessage) (notificationParams, error) {
	what := method + ".params"
	f, err := objectFields(what, raw)
	if err != nil {
		return notificationParams{}, err
	}
	if err := f.check(what, "requestId", "string"); err != nil {
		return notificationParams{}, err
	}
	p := notificationParams{Chunk: f["chunk"]}
	if err := json.Unmarshal(f["requestId"], &p.RequestID); err != nil {
		return notificationParams{}, fmt.Errorf("%s.requestId: %v", what, err)
	}
	if method != "runActionState" {
		return p, nil
	}
	if err := f.check(what, "state", "undefined", "object"); err != nil {
		return notificationParams{}, err
	}
	st, ok := f["state"]
	if !ok {
		return p, nil
	}
	sf, err := objectFields(what+".state", st)
	if err != nil {
		return notificationParams{}, err
	}
	if err := sf.check(what+".state", "traceId", "undefined", "string"); err != nil {
		return notificationParams{}, err
	}
	p.State = &RunState{}
	if id, ok := sf["traceId"]; ok {
		if err := json.Unmarshal(id, &p.State.TraceID); err != nil {
			return notificationParams{}, fmt.Errorf("%s.state.traceId: %v", what, err)
		}
	}
	return p, nil
}

// decodeNotificationUnchecked decodes the params of runActionState and
// streamChunk without validating them ([Options.SkipValidation]).
func decodeNotificationUnchecked(method string, raw json.RawMessage) (notificationParams, error) {
	var v struct {
		RequestID string          `json:"requestId"`
		State     json.RawMessage `json:"state"`
		Chunk     json.RawMessage `json:"chunk"`
	}
	if err := json.Unmarshal(raw, &v); err != nil {
		return notificationParams{}, fmt.Errorf("%s.params: %v", method, err)
	}
	p := notificationParams{RequestID: v.RequestID, Chunk: v.Chunk}
	if method == "runActionState" && v.State != nil && string(v.State) != "null" {
		p.State = &RunState{}
		if err := json.Unmarshal(v.State, p.State); err != nil {
			return notificationParams{}, fmt.Errorf("%s.params.state: %v", method, err)
		}
	}
	return p, nil
}
