package registry_test

import (
	"context"
	"encoding/json"
	"testing"

	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

// TestRawJSONFlow checks the input and output of a flow taking and
// returning json.RawMessage: valid input reaches the flow, invalid input is
// rejected, and the output is compact JSON.
func TestRawJSONFlow(t *testing.T) {
	reg := registry.New(nil)
	echo, err := registry.DefineFlow(reg, "echo", func(_ context.Context, in json.RawMessage) (json.RawMessage, error) {
		return in, nil
	}, nil)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		input    string
		want     string
		wantCode status.Code // OK: success
	}{
		{name: "compact object", input: `{"a":1,"b":[true,null]}`, want: `{"a":1,"b":[true,null]}`},
		{name: "white space dropped", input: "{ \"a\" : 1,\n \"s\": \"x y\" }", want: `{"a":1,"s":"x y"}`},
		{name: "string with spaces", input: `"a b"`, want: `"a b"`},
		{name: "no input", input: ``, want: `null`},
		{name: "truncated", input: `{"a":`, wantCode: status.InvalidArgument},
		{name: "two values", input: `1 2`, wantCode: status.InvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := echo.Run(context.Background(), &registry.Request{Input: json.RawMessage(tt.input)}, nil)
			if tt.wantCode != status.OK {
				if c := status.CodeOf(err); c != tt.wantCode {
					t.Fatalf("Run = %v (code %v), want code %v", err, c, tt.wantCode)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := string(res.Output); got != tt.want {
				t.Errorf("output = %s, want %s", got, tt.want)
			}
		})
	}
}
