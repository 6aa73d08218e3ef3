package v2manager

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/sourcegraph/jsonrpc2"
)

// fatalViolation is a protocol violation that makes a message unusable.
type fatalViolation struct{ msg string }

func (e *fatalViolation) Error() string { return e.msg }

// classify checks a frame from a runtime and returns its raw params. A
// *fatalViolation means the frame cannot be used; another error is a
// violation the CLI tolerates (a missing "jsonrpc" member), and the message
// is still used.
func classify(data []byte) (json.RawMessage, error) {
	fatal := func(format string, args ...any) error {
		return &fatalViolation{fmt.Sprintf("message %.200s: ", data) + fmt.Sprintf(format, args...)}
	}
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		return nil, fatal("not JSON")
	}
	if k := kind(data); k != "object" {
		return nil, fatal("a JSON-RPC message must be an object, not %s", k)
	}
	// Members by presence: a null member is present.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, fatal("%v", err)
	}
	method, isRequest := m["method"]
	_, hasResult := m["result"]
	errMember, hasError := m["error"]
	switch {
	case isRequest && (hasResult || hasError):
		return nil, fatal("both a method and a result or error")
	case !isRequest && !hasResult && (!hasError || kind(errMember) == "null"):
		return nil, fatal("neither a method nor a result or error")
	case isRequest && kind(method) != "string":
		return nil, fatal("method must be a string")
	case hasError && kind(errMember) != "object" && kind(errMember) != "null":
		return nil, fatal("error must be an object")
	}
	if id, ok := m["id"]; ok {
		var rid jsonrpc2.ID
		if k := kind(id); k != "null" && (k != "string" && k != "number" || json.Unmarshal(id, &rid) != nil) {
			return nil, fatal("id must be a string or a non-negative integer")
		}
	}
	params := m["params"]
	if string(m["jsonrpc"]) != `"2.0"` {
		return params, fmt.Errorf("message %.200s: \"jsonrpc\" must be \"2.0\"", data)
	}
	return params, nil
}
