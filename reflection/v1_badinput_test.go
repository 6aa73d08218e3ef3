package reflection_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/genkit-runtime/genkit-runtime/dap"
	"github.com/genkit-runtime/genkit-runtime/fixture"
	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// TestV1BadInput is the bad-input table of README.md: each row's HTTP
// status and Status code, and the server still healthy after each.
func TestV1BadInput(t *testing.T) {
	env := newV1Env(t, func(reg *registry.Registry, o *reflection.Options) {
		o.MaxBodyBytes = 1 << 20
		if _, err := fixture.RegisterDAP(reg, &dap.Options{}); err != nil {
			t.Fatal(err)
		}
	})
	deep := `{"key":"/flow/echo","input":` + strings.Repeat("[", 100000) + strings.Repeat("]", 100000) + `}`
	tests := []struct {
		name, path, body string
		wantHTTP         int
		wantCode         int  // -1: accepted, answered OK
		wrapped          bool // {"error": Status} rather than a bare Status
	}{
		{"malformed JSON", "/api/runAction", `{"key":`, 400, 3, false},
		{"key a number", "/api/runAction", `{"key":5}`, 400, 3, false},
		{"missing key", "/api/runAction", `{"input":1}`, 400, 3, false},
		{"empty key", "/api/runAction", `{"key":""}`, 404, 5, false},
		{"empty body", "/api/runAction", ``, 400, 3, false},
		{"not an object", "/api/runAction", `[1]`, 400, 3, false},
		{"context not an object", "/api/runAction", `{"key":"/flow/echo","context":5}`, 400, 3, false},
		{"telemetryLabels not strings", "/api/runAction", `{"key":"/flow/echo","telemetryLabels":{"a":1}}`, 400, 3, false},
		{"a null telemetry label", "/api/runAction", `{"key":"/flow/echo","telemetryLabels":{"a":null}}`, 400, 3, false},
		{"deeply nested JSON", "/api/runAction", deep, 400, 3, false},
		{"invalid UTF-8", "/api/runAction", "{\"key\":\"/flow/echo\",\"input\":\"\xff\xfe\"}", 400, 3, false},
		{"oversized body", "/api/runAction", `{"key":"/flow/echo","input":"` + strings.Repeat("a", 2<<20) + `"}`, 413, 8, false},
		{"non-boolean stream", "/api/runAction?stream=maybe", `{"key":"/flow/echo"}`, 400, 3, false},
		{"unknown type", "/api/runAction", `{"key":"/nope/x"}`, 404, 5, false},
		{"stray slashes", "/api/runAction", `{"key":"//flow//echo"}`, 404, 5, false},
		{"no type", "/api/runAction", `{"key":"echo"}`, 404, 5, false},
		{"malformed DAP key", "/api/runAction", `{"key":"/dynamic-action-provider/fixtureTools:"}`, 400, 3, false},
		{"DAP wildcard", "/api/runAction", `{"key":"/dynamic-action-provider/fixtureTools:tool/*"}`, 404, 5, false},
		{"input of the wrong shape", "/api/runAction", `{"key":"/flow/greet","input":5}`, 200, 3, true},
		{"input failing the schema", "/api/runAction", `{"key":"/flow/greet","input":{"name":""}}`, 200, 3, true},
		{"cancel unknown trace", "/api/cancelAction", `{"traceId":"0123456789abcdef0123456789abcdef"}`, 404, 5, false},
		{"cancel trace a number", "/api/cancelAction", `{"traceId":5}`, 400, 3, false},
		{"cancel without trace", "/api/cancelAction", `{}`, 400, 3, false},
		{"cancel with a null body", "/api/cancelAction", `null`, 400, 3, false},
		{"notify with a null body", "/api/notify", `null`, 400, 3, false},
		{"notify with a big spec version", "/api/notify", `{"reflectionApiSpecVersion":-3.6e16}`, 200, -1, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, body := env.do(t, "POST", tc.path, tc.body)
			if resp.StatusCode != tc.wantHTTP {
				t.Fatalf("HTTP %d %s; want %d", resp.StatusCode, truncate(body), tc.wantHTTP)
			}
			if tc.wrapped {
				var f struct {
					Error json.RawMessage `json:"error"`
				}
				if err := json.Unmarshal([]byte(body), &f); err != nil || f.Error == nil {
					t.Fatalf("body %s: want {\"error\": Status}", truncate(body))
				}
				body = string(f.Error)
			}
			if tc.wantCode < 0 { // accepted: no Status
				if body != "OK" {
					t.Errorf("body %s; want OK", truncate(body))
				}
			} else if st := v1DecodeStatus(t, body); *st.Code != tc.wantCode {
				t.Errorf("code %d; want %d (%s)", *st.Code, tc.wantCode, *st.Message)
			}
			// The server is still healthy, and still runs actions.
			if resp, _ := env.do(t, "GET", "/api/__health", ""); resp.StatusCode != http.StatusOK {
				t.Errorf("health after the bad request: %d", resp.StatusCode)
			}
			if _, got := env.do(t, "POST", "/api/runAction", `{"key":"/flow/echo","input":1}`); !strings.HasPrefix(got, `{"result":1,`) {
				t.Errorf("echo after the bad request: %s", got)
			}
		})
	}
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}
