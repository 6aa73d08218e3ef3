package reflection

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/sourcegraph/jsonrpc2"
)

var v2MessageTests = []struct {
	name   string
	data   string
	params string // want ok with these params ("" for none), or:
	reply  string // want this reply ("" with drop for none)
	drop   bool
}{
	{name: "request", data: `{"jsonrpc":"2.0","method":"listActions","id":"1"}`},
	{name: "request with params", data: `{"jsonrpc":"2.0","method":"runAction","id":"2","params":{"b":1,"a":[2]}}`, params: `{"b":1,"a":[2]}`},
	{name: "numeric id", data: `{"jsonrpc":"2.0","method":"listActions","id":42}`},
	{name: "zero id", data: `{"jsonrpc":"2.0","method":"listActions","id":0}`},
	{name: "notification", data: `{"jsonrpc":"2.0","method":"endInputStream","params":{"requestId":"3"}}`, params: `{"requestId":"3"}`},
	{name: "null id", data: `{"jsonrpc":"2.0","method":"configure","id":null}`},
	{name: "null params", data: `{"jsonrpc":"2.0","method":"listActions","id":"n","params":null}`, params: `null`},
	{name: "array params", data: `{"jsonrpc":"2.0","method":"listActions","id":"a","params":[]}`, params: `[]`},
	{name: "response", data: `{"jsonrpc":"2.0","id":"1","result":{"telemetryServerUrl":"x"}}`},
	{name: "null result", data: `{"jsonrpc":"2.0","id":"1","result":null}`},
	{name: "error response", data: `{"jsonrpc":"2.0","id":"1","error":{"code":-32602,"message":"m"}}`},
	{name: "white space", data: " \n{\"jsonrpc\":\"2.0\",\"method\":\"listActions\",\"id\":\"w\"}\n"},

	{name: "not JSON", data: `{`, reply: `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`},
	{name: "empty", data: ``, reply: `{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"Parse error"}}`},
	{name: "batch", data: `[{"jsonrpc":"2.0","method":"listActions","id":"1"}]`,
		reply: `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: batches are not supported"}}`},
	{name: "number", data: `5`, reply: `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: a message must be a JSON object"}}`},
	{name: "no version", data: `{"method":"listActions","id":"v"}`,
		reply: `{"jsonrpc":"2.0","id":"v","error":{"code":-32600,"message":"Invalid Request: \"jsonrpc\" must be \"2.0\""}}`},
	{name: "version as number", data: `{"jsonrpc":2.0,"method":"listActions","id":7}`,
		reply: `{"jsonrpc":"2.0","id":7,"error":{"code":-32600,"message":"Invalid Request: \"jsonrpc\" must be \"2.0\""}}`},
	{name: "null method", data: `{"jsonrpc":"2.0","method":null,"id":"m"}`,
		reply: `{"jsonrpc":"2.0","id":"m","error":{"code":-32600,"message":"Invalid Request: method must be a string"}}`},
	{name: "method and result", data: `{"jsonrpc":"2.0","method":"x","result":1,"id":"b"}`,
		reply: `{"jsonrpc":"2.0","id":"b","error":{"code":-32600,"message":"Invalid Request: a message cannot have both a method and a result or error"}}`},
	{name: "nothing", data: `{"jsonrpc":"2.0","id":"e"}`,
		reply: `{"jsonrpc":"2.0","id":"e","error":{"code":-32600,"message":"Invalid Request: a message needs a method, a result or an error"}}`},
	{name: "negative id", data: `{"jsonrpc":"2.0","method":"listActions","id":-3}`,
		reply: `{"jsonrpc":"2.0","id":-3,"error":{"code":-32600,"message":"Invalid Request: id must be a string or a non-negative integer"}}`},
	{name: "exponent id", data: `{"jsonrpc":"2.0","method":"listActions","id":1e2}`,
		reply: `{"jsonrpc":"2.0","id":1e2,"error":{"code":-32600,"message":"Invalid Request: id must be a string or a non-negative integer"}}`},
	{name: "huge id", data: `{"jsonrpc":"2.0","method":"listActions","id":99999999999999999999}`,
		reply: `{"jsonrpc":"2.0","id":99999999999999999999,"error":{"code":-32600,"message":"Invalid Request: id must be a string or a non-negative integer"}}`},
	{name: "bool id", data: `{"jsonrpc":"2.0","method":"listActions","id":true}`,
		reply: `{"jsonrpc":"2.0","id":null,"error":{"code":-32600,"message":"Invalid Request: id must be a string or a non-negative integer"}}`},
	{name: "scalar params", data: `{"jsonrpc":"2.0","method":"listActions","id":"p","params":1}`,
		reply: `{"jsonrpc":"2.0","id":"p","error":{"code":-32600,"message":"Invalid Request: params must be an object or an array"}}`},
	{name: "response without id", data: `{"jsonrpc":"2.0","result":1}`, drop: true},
	{name: "response with bad id", data: `{"jsonrpc":"2.0","result":1,"id":-1}`, drop: true},
	{name: "response without version", data: `{"result":1,"id":"1"}`, drop: true},
}

func TestV2CheckMessage(t *testing.T) {
	for _, tt := range v2MessageTests {
		t.Run(tt.name, func(t *testing.T) {
			params, reply, ok := checkMessage([]byte(tt.data))
			wantOK := tt.reply == "" && !tt.drop
			if ok != wantOK {
				t.Fatalf("ok = %v (reply %s), want %v", ok, reply, wantOK)
			}
			if diff := cmp.Diff(tt.params, string(params)); diff != "" {
				t.Errorf("params (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.reply, string(reply)); diff != "" {
				t.Errorf("reply (-want +got):\n%s", diff)
			}
		})
	}
}

// FuzzV2CheckMessage checks that what checkMessage admits, jsonrpc2
// decodes, and that every reply is a JSON-RPC error response.
func FuzzV2CheckMessage(f *testing.F) {
	for _, tt := range v2MessageTests {
		f.Add([]byte(tt.data))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		params, reply, ok := checkMessage(data)
		if ok {
			var m map[string]json.RawMessage
			if err := json.Unmarshal(data, &m); err != nil {
				t.Fatalf("admitted %q: %v", data, err)
			}
			if _, isRequest := m["method"]; isRequest {
				var req jsonrpc2.Request
				if err := json.Unmarshal(data, &req); err != nil {
					t.Fatalf("admitted request %q that jsonrpc2 cannot decode: %v", data, err)
				}
				if params != nil && !json.Valid(params) {
					t.Fatalf("params %q are not JSON", params)
				}
			}
			return
		}
		if reply == nil {
			return
		}
		var resp struct {
			JSONRPC string          `json:"jsonrpc"`
			ID      json.RawMessage `json:"id"`
			Error   struct {
				Code int64 `json:"code"`
			} `json:"error"`
		}
		if err := json.Unmarshal(reply, &resp); err != nil {
			t.Fatalf("reply %q to %q: %v", reply, data, err)
		}
		if resp.JSONRPC != "2.0" || !slices.Contains([]int64{codeParseError, codeInvalidRequest}, resp.Error.Code) {
			t.Fatalf("reply %q to %q", reply, data)
		}
	})
}
