package v2manager

import (
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sourcegraph/jsonrpc2"
)

// Error is a JSON-RPC error response from a runtime. It matches the
// sentinel errors below with errors.Is by code.
type Error struct {
	Code    int64
	Message string
	// Data is the raw error data, nil when the response had none. Genkit
	// runtimes send a Status for action errors; see [Error.Status].
	Data json.RawMessage
}

// The JSON-RPC error codes Genkit runtimes answer with, as sentinels to
// match with errors.Is.
var (
	ErrParse          = &Error{Code: jsonrpc2.CodeParseError, Message: "Parse error"}
	ErrInvalidRequest = &Error{Code: jsonrpc2.CodeInvalidRequest, Message: "Invalid Request"}
	ErrMethodNotFound = &Error{Code: jsonrpc2.CodeMethodNotFound, Message: "Method not found"}
	ErrInvalidParams  = &Error{Code: jsonrpc2.CodeInvalidParams, Message: "Invalid params"}
	ErrInternal       = &Error{Code: jsonrpc2.CodeInternalError, Message: "Internal error"}
	// ErrAction is the code of an action that failed; the error's data is
	// then a Genkit Status.
	ErrAction = &Error{Code: -32000, Message: "Action error"}
)

// ErrDisconnected is returned for requests whose runtime disconnected
// before answering, and for requests to a runtime no longer connected.
var ErrDisconnected = errors.New("v2manager: runtime disconnected")

// ErrClosed is returned by [Manager.WaitRuntime] once the manager is closed.
var ErrClosed = errors.New("v2manager: manager closed")

func (e *Error) Error() string {
	return fmt.Sprintf("json-rpc error %d: %s", e.Code, e.Message)
}

// Is reports whether target is an *Error with the same code.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	return ok && t.Code == e.Code
}

// Status decodes the error data as a Genkit Status. It reports false when
// the data is absent or not Status-shaped (a numeric code and a string
// message).
func (e *Error) Status() (Status, bool) {
	var raw struct {
		Code    *int            `json:"code"`
		Message *string         `json:"message"`
		Details json.RawMessage `json:"details"`
	}
	if len(e.Data) == 0 || json.Unmarshal(e.Data, &raw) != nil || raw.Code == nil || raw.Message == nil {
		return Status{}, false
	}
	st := Status{Code: *raw.Code, Message: *raw.Message}
	if len(raw.Details) > 0 && string(raw.Details) != "null" {
		if json.Unmarshal(raw.Details, &st.Details) != nil {
			return Status{}, false
		}
	}
	return st, true
}

// Status is a Genkit Status: a canonical code (0..16), a message and
// details, in which runtimes put the run's "traceId" and a "stack".
type Status struct {
	Code    int            `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details,omitempty"`
}

// TraceID returns details.traceId, or "".
func (s Status) TraceID() string {
	id, _ := s.Details["traceId"].(string)
	return id
}

// convertError turns jsonrpc2 errors into this package's.
func convertError(err error) error {
	var je *jsonrpc2.Error
	if errors.As(err, &je) {
		e := &Error{Code: je.Code, Message: je.Message}
		if je.Data != nil {
			e.Data = append(json.RawMessage(nil), *je.Data...)
		}
		return e
	}
	if errors.Is(err, jsonrpc2.ErrClosed) {
		return ErrDisconnected
	}
	return err
}
