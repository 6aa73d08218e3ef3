package reflection

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"

	"github.com/sourcegraph/jsonrpc2"
)

// Wire types of Reflection API v2 (genkit-tools/common/src/types/reflection.ts).
type (
	registerParams struct {
		ID                       string   `json:"id"`
		PID                      int      `json:"pid"`
		Name                     string   `json:"name,omitempty"`
		GenkitVersion            string   `json:"genkitVersion,omitempty"`
		ReflectionAPISpecVersion int      `json:"reflectionApiSpecVersion"`
		Envs                     []string `json:"envs"`
	}
	registerResult struct {
		TelemetryServerURL string `json:"telemetryServerUrl"`
	}
	configureParams struct {
		TelemetryServerURL string `json:"telemetryServerUrl"`
	}
	listActionsResult struct {
		Actions json.RawMessage `json:"actions"`
	}
	listValuesParams struct {
		Type *string `json:"type"`
	}
	listValuesResult struct {
		Values map[string]any `json:"values"`
	}
	runStateParams struct {
		RequestID string   `json:"requestId"`
		State     runState `json:"state"`
	}
	runState struct {
		TraceID string `json:"traceId"`
	}
	streamChunkParams struct {
		RequestID string `json:"requestId"`
		Chunk     any    `json:"chunk"`
	}
	cancelParams struct {
		TraceID *string `json:"traceId"`
	}
	cancelResult struct {
		Message string `json:"message"`
	}
	// inputParams are the params of sendInputStreamChunk, and, without
	// the chunk, of endInputStream.
	inputParams struct {
		RequestID *string         `json:"requestId"`
		Chunk     json.RawMessage `json:"chunk"`
	}
)

// Standard JSON-RPC 2.0 error codes, and the code Genkit uses for an action
// that failed (with a Status as the error data).
const (
	codeParseError     = jsonrpc2.CodeParseError
	codeInvalidRequest = jsonrpc2.CodeInvalidRequest
	codeMethodNotFound = jsonrpc2.CodeMethodNotFound
	codeInvalidParams  = jsonrpc2.CodeInvalidParams
	codeActionError    = -32000
)

// checkFrame is the runtime's check of a frame from the manager (see
// wsrpc.Options.Check): checkMessage, with a refused message's reply.
func checkFrame(data []byte) (json.RawMessage, []byte, error) {
	params, reply, ok := checkMessage(data)
	if !ok {
		return nil, reply, errRefusedMessage
	}
	return params, nil, nil
}

// errRefusedMessage marks a frame checkMessage refused.
var errRefusedMessage = errors.New("not a JSON-RPC 2.0 message the runtime takes")

// rpcErrorResponse is a JSON-RPC error response written by the stream
// itself, for messages jsonrpc2 never sees. Its id is the request's raw id,
// or null when the id could not be determined.
type rpcErrorResponse struct {
	JSONRPC string          `json:"jsonrpc"`
	ID      json.RawMessage `json:"id"`
	Error   rpcErrorObject  `json:"error"`
}

type rpcErrorObject struct {
	Code    int64  `json:"code"`
	Message string `json:"message"`
}

func errorResponse(id json.RawMessage, code int64, msg string) []byte {
	if id == nil {
		id = json.RawMessage("null")
	}
	b, err := json.Marshal(rpcErrorResponse{JSONRPC: "2.0", ID: id, Error: rpcErrorObject{Code: code, Message: msg}})
	if err != nil {
		// Only the message is variable, and strings always encode.
		panic(err)
	}
	return b
}

// checkMessage validates one received frame as a JSON-RPC 2.0 message that
// jsonrpc2 can decode. For a valid message it returns ok and the raw params
// (nil when absent). Otherwise it returns the error response to send, or
// nil for a malformed response, which is dropped unanswered:
//   - not JSON: -32700 Parse error, id null;
//   - an array (a batch, which Genkit does not use) or another non-object:
//     -32600, id null;
//   - an object that is neither a request nor a response, lacks
//     "jsonrpc":"2.0", has a method that is not a string, params that are
//     not structured, or an id that is not a string or a non-negative
//     integer: -32600, with the id echoed when it is a string or number.
func checkMessage(data []byte) (params json.RawMessage, reply []byte, ok bool) {
	data = bytes.TrimSpace(data)
	if !json.Valid(data) {
		return nil, errorResponse(nil, codeParseError, "Parse error"), false
	}
	if len(data) == 0 || data[0] != '{' {
		if len(data) > 0 && data[0] == '[' {
			return nil, errorResponse(nil, codeInvalidRequest, "Invalid Request: batches are not supported"), false
		}
		return nil, errorResponse(nil, codeInvalidRequest, "Invalid Request: a message must be a JSON object"), false
	}
	// Members by presence: a null member is present.
	var m map[string]json.RawMessage
	if err := json.Unmarshal(data, &m); err != nil {
		return nil, errorResponse(nil, codeInvalidRequest, "Invalid Request"), false
	}
	id, hasID := m["id"]
	method, isRequest := m["method"]
	_, hasResult := m["result"]
	errMember, hasError := m["error"]
	isResponse := hasResult || hasError && string(errMember) != "null"
	invalid := func(why string) (json.RawMessage, []byte, bool) {
		if !isRequest && (hasResult || hasError) {
			return nil, nil, false // never answer a response
		}
		var echo json.RawMessage
		if hasID {
			echo = echoID(id)
		}
		return nil, errorResponse(echo, codeInvalidRequest, "Invalid Request: "+why), false
	}
	if string(m["jsonrpc"]) != `"2.0"` {
		return invalid(`"jsonrpc" must be "2.0"`)
	}
	switch {
	case isRequest && (hasResult || hasError):
		return invalid("a message cannot have both a method and a result or error")
	case !isRequest && !isResponse:
		return invalid("a message needs a method, a result or an error")
	}
	if hasID && !validID(id) {
		return invalid("id must be a string or a non-negative integer")
	}
	if isResponse {
		if !hasID || string(id) == "null" {
			return invalid("a response needs an id")
		}
		return nil, nil, true
	}
	if len(method) == 0 || method[0] != '"' {
		return invalid("method must be a string")
	}
	params, hasParams := m["params"]
	if hasParams && params[0] != '{' && params[0] != '[' && string(params) != "null" {
		return invalid("params must be an object or an array")
	}
	return params, nil, true
}

// validID reports whether a raw id can be decoded and echoed exactly by
// jsonrpc2: null, a string, or a non-negative integer written in plain
// decimal that fits in an int64.
func validID(raw json.RawMessage) bool {
	switch {
	case string(raw) == "null":
		return true
	case len(raw) > 0 && raw[0] == '"':
		return true
	}
	s := string(raw)
	if s != "0" && (s == "" || s[0] < '1' || s[0] > '9') {
		return false
	}
	_, err := strconv.ParseInt(s, 10, 64)
	return err == nil
}

// echoID returns the raw id to echo in an error response: the id when it
// is a string or a number, else nil (null).
func echoID(raw json.RawMessage) json.RawMessage {
	if len(raw) > 0 && (raw[0] == '"' || raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) {
		return raw
	}
	return nil
}

// idString is a request id as it appears in the requestId of notifications:
// the string itself, or the number in decimal.
func idString(id jsonrpc2.ID) string {
	if id.IsString {
		return id.Str
	}
	return strconv.FormatUint(id.Num, 10)
}
