package v2manager

import (
	"testing"

	"github.com/genkit-runtime/genkit-runtime/internal/spectest"
)

// The hand-written decoders of wire.go validate what a runtime sends the
// way the Genkit CLI's zod schemas do. These tests hold each to the schema
// generated from those zod schemas (spec/schemas): every variant of a
// message, each member removed or given a value of each JSON type, is
// accepted by the decoder exactly when the schema accepts it.

func TestDecodeRegisterMatchesSchema(t *testing.T) {
	t.Parallel()
	spectest.Agree(t, "ReflectionRegisterParams",
		`{"id":"r1","pid":12,"name":"app","genkitVersion":"nodejs/1.42.0","reflectionApiSpecVersion":1,"envs":["dev"]}`,
		func(b []byte) error { _, err := decodeRegister(b); return err }, nil)
}

func TestDecodeNotificationMatchesSchema(t *testing.T) {
	t.Parallel()
	t.Run("runActionState", func(t *testing.T) {
		spectest.Agree(t, "ReflectionRunActionStateParams",
			`{"requestId":"7","state":{"traceId":"0123456789abcdef0123456789abcdef"}}`,
			func(b []byte) error { _, err := decodeNotification("runActionState", b); return err }, nil)
	})
	t.Run("streamChunk", func(t *testing.T) {
		spectest.Agree(t, "ReflectionStreamChunkParams", `{"requestId":"7","chunk":{"index":[1,"a"]}}`,
			func(b []byte) error { _, err := decodeNotification("streamChunk", b); return err }, nil)
	})
}

func TestDecodeResultsMatchSchemas(t *testing.T) {
	t.Parallel()
	t.Run("listActions", func(t *testing.T) {
		spectest.Agree(t, "ReflectionListActionsResponse",
			`{"actions":{"/tool/add":{"key":"/tool/add","actionType":"tool","name":"add","description":"adds",`+
				`"inputSchema":{"type":"object"},"outputSchema":{"type":"number"},"inputJsonSchema":{"type":"object"},`+
				`"outputJsonSchema":null,"streamSchema":{},"metadata":{"type":"tool","n":1,"b":true,"o":{},"a":["x",2,{}]}}}}`,
			func(b []byte) error { _, err := decodeActions(b); return err },
			map[string]string{
				"$.actions./tool/add.metadata = null": "the CLI (1.43) drops metadata:null before it validates a listing",
			})
	})
	t.Run("listValues", func(t *testing.T) {
		spectest.Agree(t, "ReflectionListValuesResponse", `{"values":{"defaultModel":{"name":"m"}}}`,
			func(b []byte) error { _, err := decodeValues(b); return err }, nil)
	})
	t.Run("cancelAction", func(t *testing.T) {
		spectest.Agree(t, "ReflectionCancelActionResponse", `{"message":"Action cancelled"}`,
			func(b []byte) error { _, err := decodeCancel(b); return err }, nil)
	})
	t.Run("runAction", func(t *testing.T) {
		spectest.Agree(t, "RunActionResponse",
			`{"result":{"a":[1]},"telemetry":{"traceId":"0123456789abcdef0123456789abcdef"},"genkitVersion":"x"}`,
			func(b []byte) error { _, err := decodeRunResult(b); return err }, nil)
	})
}

// TestActionMatchesSchema holds the decoded descriptor to the members of
// the CLI's ActionMetadata schema.
func TestActionMatchesSchema(t *testing.T) {
	t.Parallel()
	notKept := "validated, not kept: no runtime sends it in a listing"
	spectest.SameMembers(t, "ActionMetadata", Action{}, map[string]string{
		"actionType": notKept, "inputJsonSchema": notKept, "outputJsonSchema": notKept, "streamSchema": notKept,
	})
}
