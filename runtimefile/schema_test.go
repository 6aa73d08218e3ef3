package runtimefile_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/genkit-runtime/genkit-runtime/internal/spectest"
	"github.com/genkit-runtime/genkit-runtime/runtimefile"
	"github.com/genkit-runtime/genkit-runtime/spec"
)

// TestParseMatchesSchema holds Parse to the RuntimeInfo schema
// (spec/schemas/RuntimeInfo.json, the CLI's RuntimeInfo interface and
// isValidRuntimeInfo): every variant of a runtime file, each member
// removed or given a value of each JSON type, is accepted exactly when the
// schema accepts it, but where Parse follows isValidRuntimeInfo more
// closely than a schema can.
func TestParseMatchesSchema(t *testing.T) {
	t.Parallel()
	const file = `{"id":"22192-3102","pid":22192,"name":"probe-app","reflectionServerUrl":"http://localhost:3102",` +
		`"timestamp":"2026-11-23T19:52:54.326Z","genkitVersion":"nodejs/1.42.0","reflectionApiSpecVersion":1}`
	date := "isValidRuntimeInfo needs a timestamp Date.parse accepts"
	integer := "Parse takes the number as an integer (the CLI: any number)"
	unchecked := "isValidRuntimeInfo does not check this member (the interface types it)"
	spectest.Agree(t, "RuntimeInfo", file,
		func(b []byte) error { _, err := runtimefile.Parse(b); return err },
		map[string]string{
			`$.timestamp = "x"`:                 date,
			"$.pid = 1.5":                       integer,
			"$.reflectionApiSpecVersion = 1.5":  integer,
			"$.genkitVersion = null":            unchecked,
			"$.reflectionApiSpecVersion = null": unchecked,
		})
}

// TestInfoMarshalsValid checks that the runtime files this package writes
// are valid against the strict rule (ISO-8601 timestamp with colons, spec
// version 1), with and without the optional members.
func TestInfoMarshalsValid(t *testing.T) {
	t.Parallel()
	s, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	ts := time.Date(2026, 11, 23, 19, 52, 54, 326e6, time.UTC)
	for _, info := range []runtimefile.Info{
		{ID: "1-3100", PID: 1, ReflectionServerURL: "http://127.0.0.1:3100", Timestamp: ts, ReflectionAPISpecVersion: 1},
		{ID: "1-3100", PID: 1, Name: "app", ReflectionServerURL: "http://127.0.0.1:3100", Timestamp: ts,
			GenkitVersion: "genkit-runtime/0.1.0", ReflectionAPISpecVersion: 1, ProjectName: "p"},
	} {
		b, err := json.Marshal(info)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.ValidateJSON("rules/RuntimeInfoStrict", b); err != nil {
			t.Errorf("%s: %v", b, err)
		}
	}
}
