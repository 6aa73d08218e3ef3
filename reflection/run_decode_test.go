package reflection_test

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
)

// runAnswer is what a transport made of a run request, with the
// transport's own framing taken off: the result of a run, or the problem
// with the request, worded as the shared decoder words it.
type runAnswer struct {
	Result  string // the result member, compact; "" for none
	Problem string // the request's problem; "" when it ran
}

// TestRunRequestDecodedAlike feeds the same run requests to both
// transports, as a v1 body and as v2 runAction params, and checks that
// they are decoded alike: member names are matched exactly on both (so
// names that differ only in case are unknown members), repeated members
// count last, and a malformed request gets the same words.
func TestRunRequestDecodedAlike(t *testing.T) {
	v1 := newV1Env(t, nil)
	v2 := newV2Env(t, nil)
	tests := []struct {
		name string
		body string
		want runAnswer
	}{
		{"exact names", `{"key":"/flow/echo","input":{"a":1}}`, runAnswer{Result: `{"a":1}`}},
		{"key in other case", `{"KEY":"/flow/echo","input":1}`, runAnswer{Problem: "key is required"}},
		{"input in other case", `{"key":"/flow/echo","Input":5}`, runAnswer{Result: `null`}},
		{"other-case key ignored", `{"key":"/flow/echo","input":2,"Key":"/flow/nope"}`, runAnswer{Result: `2`}},
		{"repeated member", `{"key":"/flow/echo","input":3,"input":4}`, runAnswer{Result: `4`}},
		{"unknown member", `{"key":"/flow/echo","input":"x","runtimeId":"123-3100"}`, runAnswer{Result: `"x"`}},
		{"key not a string", `{"key":5}`, runAnswer{Problem: `field "key" must be a string, not a number`}},
		{"labels not strings", `{"key":"/flow/echo","telemetryLabels":{"a":1}}`, runAnswer{Problem: `field "telemetryLabels" must be an object of strings`}},
		{"context not an object", `{"key":"/flow/echo","context":[1]}`, runAnswer{Problem: "context must be a JSON object"}},
		{"not an object", `[1]`, runAnswer{Problem: "want a JSON object, not an array"}},
		{"null", `null`, runAnswer{Problem: "key is required"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got1 := v1Answer(t, v1, tc.body)
			got2 := v2Answer(t, v2, tc.body)
			if diff := cmp.Diff(tc.want, got1); diff != "" {
				t.Errorf("v1 (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(got1, got2); diff != "" {
				t.Errorf("v2 answered otherwise than v1 (-v1 +v2):\n%s", diff)
			}
		})
	}
}

// v1Answer posts body to /api/runAction.
func v1Answer(t *testing.T, e *v1Env, body string) runAnswer {
	t.Helper()
	resp, text := e.run(t, false, body)
	if resp.StatusCode == http.StatusOK {
		return runAnswer{Result: compactResult(t, v1CheckFinal(t, text).Result)}
	}
	if resp.StatusCode != http.StatusBadRequest {
		t.Fatalf("v1: HTTP %d %s", resp.StatusCode, text)
	}
	st := v1DecodeStatus(t, text)
	msg := strings.TrimPrefix(*st.Message, "INVALID_ARGUMENT: ")
	return runAnswer{Problem: strings.TrimPrefix(msg, "malformed request body: ")}
}

// v2Answer sends body as the params of runAction.
func v2Answer(t *testing.T, e *v2Env, body string) runAnswer {
	t.Helper()
	var raw json.RawMessage
	err := e.rt.Call(v2Ctx(t), "runAction", json.RawMessage(body), &raw)
	if err == nil {
		var res struct {
			Result json.RawMessage `json:"result"`
		}
		if err := json.Unmarshal(raw, &res); err != nil {
			t.Fatal(err)
		}
		return runAnswer{Result: compactResult(t, res.Result)}
	}
	var rpcErr *v2manager.Error
	if !errors.As(err, &rpcErr) || rpcErr.Code != -32602 {
		t.Fatalf("v2: %v, want a result or an invalid-params error", err)
	}
	return runAnswer{Problem: strings.TrimPrefix(rpcErr.Message, "invalid params: ")}
}

func compactResult(t *testing.T, raw json.RawMessage) string {
	t.Helper()
	if len(raw) == 0 {
		return ""
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
