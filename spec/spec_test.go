package spec_test

import (
	"encoding/json"
	"io/fs"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/genkit-runtime/genkit-runtime/spec"
)

func load(t *testing.T) *spec.Schemas {
	t.Helper()
	s, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestSchemasJudgeMessages checks the schemas on messages whose verdict is
// known: shapes the CLI accepts and rejects (protocol.md §1.3, §3.3, §5,
// §6.2, §7.1).
func TestSchemasJudgeMessages(t *testing.T) {
	t.Parallel()
	s := load(t)
	const trace = `"0123456789abcdef0123456789abcdef"`
	tests := []struct {
		name, schema, msg string
		ok                bool
	}{
		{"status", "Status", `{"code":13,"message":"boom"}`, true},
		{"status code not canonical", "Status", `{"code":404,"message":"x"}`, false},
		{"error status without details", "rules/ErrorStatus", `{"code":13,"message":"boom"}`, false},
		{"error status with string details", "rules/ErrorStatus", `{"code":13,"message":"boom","details":"x"}`, false},
		{"error status", "rules/ErrorStatus", `{"code":5,"message":"nope","details":{"traceId":` + trace + `}}`, true},
		{"run result", "rules/RunActionFinal", `{"result":"hi","telemetry":{"traceId":` + trace + `}}`, true},
		{"run result undefined", "rules/RunActionFinal", `{"telemetry":{"traceId":` + trace + `}}`, true},
		{"run result without telemetry", "rules/RunActionFinal", `{"result":1}`, false},
		{"run result upper-case trace id", "rules/RunActionFinal", `{"result":1,"telemetry":{"traceId":"0123456789ABCDEF0123456789ABCDEF"}}`, false},
		{"run error", "rules/RunActionFinal", `{"error":{"code":3,"message":"bad","details":{"stack":"s","traceId":` + trace + `}}}`, true},
		{"run error with HTTP status", "rules/RunActionFinal", `{"error":{"code":404,"message":"bad","details":{}}}`, false},
		{"run request", "RunActionRequest", `{"key":"/flow/echo","input":"x","telemetryLabels":{"a":"b"},"runtimeId":"1"}`, true},
		{"run request without key", "RunActionRequest", `{"input":"x"}`, false},
		{"run request numeric label", "RunActionRequest", `{"key":"/flow/echo","telemetryLabels":{"a":1}}`, false},
		{"v1 descriptor, Go style", "Action", `{"key":"/flow/a","name":"a","description":"","metadata":null,"type":"flow"}`, true},
		{"v2 descriptor with null metadata", "ActionMetadata", `{"key":"/flow/a","name":"a","metadata":null}`, false},
		{"v2 descriptor with null description", "ActionMetadata", `{"key":"/flow/a","name":"a","description":null}`, false},
		{"v2 descriptor with a null metadata value", "ActionMetadata", `{"key":"/flow/a","name":"a","metadata":{"x":null}}`, false},
		{"v2 descriptor", "ActionMetadata", `{"key":"/tool/add","name":"add","metadata":{"type":"tool","n":[1,"a"]},"inputSchema":{"type":"object"}}`, true},
		{"listActions result", "ReflectionListActionsResponse", `{"actions":{"/flow/a":{"key":"/flow/a","name":"a"}}}`, true},
		{"listValues result without values", "ReflectionListValuesResponse", `{}`, false},
		{"register", "ReflectionRegisterParams", `{"id":"1","pid":12,"genkitVersion":"nodejs/1.42.0","reflectionApiSpecVersion":1,"envs":["dev"]}`, true},
		{"register pid as string", "ReflectionRegisterParams", `{"id":"1","pid":"12"}`, false},
		{"runActionState", "ReflectionRunActionStateParams", `{"requestId":"12","state":{"traceId":` + trace + `}}`, true},
		{"runActionState numeric request id", "ReflectionRunActionStateParams", `{"requestId":12}`, false},
		{"streamChunk", "ReflectionStreamChunkParams", `{"requestId":"3","chunk":{"index":0}}`, true},
		{"response", "rules/JsonRpcResponse", `{"jsonrpc":"2.0","id":"1","result":{}}`, true},
		{"response with result and error", "rules/JsonRpcResponse", `{"jsonrpc":"2.0","id":"1","result":{},"error":{"code":1,"message":"x"}}`, false},
		{"response of JSON-RPC 1.0", "rules/JsonRpcResponse", `{"jsonrpc":"1.0","id":"1","result":{}}`, false},
		{"notification with id", "rules/JsonRpcNotification", `{"jsonrpc":"2.0","method":"streamChunk","id":"1"}`, false},
		{"run error data", "rules/JsonRpcRunError", `{"code":-32000,"message":"m","data":{"code":1,"message":"Action was cancelled","details":{}}}`, true},
		{"run error without data", "rules/JsonRpcRunError", `{"code":-32000,"message":"m"}`, false},
		{"trace", "rules/TraceDataStrict", `{"traceId":` + trace + `,"spans":{"0123456789abcdef":{"spanId":"0123456789abcdef","traceId":` + trace + `,"startTime":1,"endTime":2,"attributes":{},"displayName":"a","instrumentationLibrary":{"name":"genkit-tracer"},"spanKind":"INTERNAL","status":{"code":2,"message":"x"}}}}`, true},
		{"trace without instrumentationLibrary", "TraceData", `{"traceId":"t","spans":{"s":{"spanId":"s","traceId":"t","startTime":1,"endTime":2,"attributes":{},"displayName":"a","spanKind":"INTERNAL"}}}`, false},
		{"time event without description", "TraceData", `{"traceId":"t","spans":{"s":{"spanId":"s","traceId":"t","startTime":1,"endTime":2,"attributes":{},"displayName":"a","instrumentationLibrary":{"name":"n"},"spanKind":"INTERNAL","timeEvents":{"timeEvent":[{"time":1,"annotation":{"attributes":{}}}]}}}}`, false},
		{"runtime file, JS", "rules/RuntimeInfoStrict", `{"id":"22192-3102","pid":22192,"name":"probe-app","reflectionServerUrl":"http://localhost:3102","timestamp":"2026-11-23T19:52:54.326Z","genkitVersion":"nodejs/1.42.0","reflectionApiSpecVersion":1}`, true},
		{"runtime file, Go timestamp", "RuntimeInfo", `{"id":"1","pid":1,"reflectionServerUrl":"http://127.0.0.1:3100","timestamp":"2026-11-23T19_54_21Z"}`, true},
		{"runtime file, Go timestamp, strict", "rules/RuntimeInfoStrict", `{"id":"1","pid":1,"reflectionServerUrl":"http://127.0.0.1:3100","timestamp":"2026-11-23T19_54_21Z","reflectionApiSpecVersion":1}`, false},
		{"runtime file without pid", "RuntimeInfo", `{"id":"1","reflectionServerUrl":"u","timestamp":"t"}`, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := s.ValidateJSON(tt.schema, []byte(tt.msg))
			if tt.ok && err != nil {
				t.Errorf("%s rejects %s: %v", tt.schema, tt.msg, err)
			}
			if !tt.ok && err == nil {
				t.Errorf("%s accepts %s", tt.schema, tt.msg)
			}
			if err != nil && !strings.Contains(err.Error(), spec.Path(tt.schema)) {
				t.Errorf("error %q does not name %s", err, spec.Path(tt.schema))
			}
		})
	}
}

// TestDocumentReferences checks that every $ref of the OpenAPI and OpenRPC
// documents names a schema file that exists, and a member that exists.
func TestDocumentReferences(t *testing.T) {
	t.Parallel()
	s := load(t)
	re := regexp.MustCompile(`"?\$ref"?:\s*"(\./schemas/[^"#]+\.json)(#[^"]*)?"`)
	for _, doc := range []string{"openapi.yaml", "reflection-v2.openrpc.json"} {
		data, err := fs.ReadFile(spec.Files, doc)
		if err != nil {
			t.Fatal(err)
		}
		refs := re.FindAllStringSubmatch(string(data), -1)
		if len(refs) == 0 {
			t.Fatalf("%s: no schema references", doc)
		}
		for _, m := range refs {
			name := strings.TrimSuffix(strings.TrimPrefix(m[1], "./schemas/"), ".json")
			sch, ok := s.Schema(name)
			if !ok {
				t.Errorf("%s: %s names no schema", doc, m[1])
				continue
			}
			if frag, ok := strings.CutPrefix(m[2], "#/properties/"); ok {
				if _, ok := sch.Properties[frag]; !ok {
					t.Errorf("%s: %s%s names no member", doc, m[1], m[2])
				}
			}
		}
	}
}

// TestOpenRPCMethods checks that the v2 document describes exactly the
// methods of the protocol (protocol.md §5.2), each with its direction.
func TestOpenRPCMethods(t *testing.T) {
	t.Parallel()
	data, err := fs.ReadFile(spec.Files, "reflection-v2.openrpc.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Methods []struct {
			Name      string          `json:"name"`
			Direction string          `json:"x-direction"`
			Result    json.RawMessage `json:"result"`
		} `json:"methods"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"register": "runtime-to-cli", "runActionState": "runtime-to-cli", "streamChunk": "runtime-to-cli",
		"listActions": "cli-to-runtime", "listValues": "cli-to-runtime", "runAction": "cli-to-runtime",
		"cancelAction": "cli-to-runtime", "configure": "cli-to-runtime", "sendInputStreamChunk": "cli-to-runtime",
		"endInputStream": "cli-to-runtime",
	}
	notifications := []string{"runActionState", "streamChunk", "configure", "sendInputStreamChunk", "endInputStream"}
	got := map[string]string{}
	for _, m := range doc.Methods {
		got[m.Name] = m.Direction
		if isNote := slices.Contains(notifications, m.Name); isNote != (m.Result == nil) {
			t.Errorf("%s: has result %v, want %v", m.Name, m.Result != nil, !isNote)
		}
	}
	if len(got) != len(want) {
		t.Errorf("methods %v, want %v", got, want)
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s: direction %q, want %q", k, got[k], v)
		}
	}
}
