package reflection

import (
	"testing"

	"github.com/genkit-runtime/genkit-runtime/internal/spectest"
)

// TestDecodeRunRequestMatchesSchema holds the run request decoder (v1 and
// v2 share it) to the body schema of spec/openapi.yaml
// (spec/schemas/rules/RunActionRequestAccepted.json): every variant of a
// request, each member removed or given a value of each JSON type, is
// accepted exactly when the schema accepts it.
func TestDecodeRunRequestMatchesSchema(t *testing.T) {
	t.Parallel()
	spectest.Agree(t, "rules/RunActionRequestAccepted",
		`{"key":"/flow/greet","input":{"name":"Ann"},"init":{"s":1},"context":{"auth":{"uid":"u"}},`+
			`"telemetryLabels":{"a":"b"},"runtimeId":"1-3100"}`,
		func(b []byte) error {
			var body runBody
			if err := body.decodeJSON(b, false); err != nil {
				return err
			}
			_, err := decodeRunRequest(&body)
			return err
		}, nil)
}

// TestV2WireTypesMatchSchemas holds the wire types of the v2 client
// (v2_session.go) to the schemas of the messages they carry: the same
// members, the required ones always written. What they send is also
// validated, frame by frame, by the conformance suite
// (conformance.TestSuiteV2PassesCorrectRuntime).
func TestV2WireTypesMatchSchemas(t *testing.T) {
	t.Parallel()
	ignored := "the runtime ignores it"
	// v2's runAction params are the run body with its stream switches,
	// which runBody holds untagged.
	type v2RunParams struct {
		runBody
		Stream      bool `json:"stream"`
		StreamInput bool `json:"streamInput"`
	}
	// endInputStream's params are decoded into inputParams, whose chunk
	// they never carry.
	type endInputParams struct {
		RequestID *string `json:"requestId"`
	}
	for _, tc := range []struct {
		schema string
		v      any
		unused map[string]string
	}{
		{"ReflectionRegisterParams", registerParams{}, nil},
		{"ReflectionConfigureParams", configureParams{}, nil},
		{"ReflectionListActionsResponse", listActionsResult{}, nil},
		{"ReflectionListValuesParams", listValuesParams{}, nil},
		{"ReflectionListValuesResponse", listValuesResult{}, nil},
		{"ReflectionRunActionParams", v2RunParams{}, map[string]string{"runtimeId": ignored}},
		{"RunActionRequest", runBody{}, map[string]string{"runtimeId": ignored}},
		{"ReflectionRunActionStateParams", runStateParams{}, nil},
		{"ReflectionStreamChunkParams", streamChunkParams{}, nil},
		{"ReflectionCancelActionParams", cancelParams{}, nil},
		{"ReflectionCancelActionResponse", cancelResult{}, nil},
		{"ReflectionSendInputStreamChunkParams", inputParams{}, nil},
		{"ReflectionEndInputStreamParams", endInputParams{}, nil},
	} {
		t.Run(tc.schema, func(t *testing.T) { spectest.SameMembers(t, tc.schema, tc.v, tc.unused) })
	}
}
