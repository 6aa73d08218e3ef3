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
			var body v1RunRequest
			if err := body.decodeJSON(b); err != nil {
				return err
			}
			_, err := decodeRunRequest(&body)
			return err
		}, nil)
}
