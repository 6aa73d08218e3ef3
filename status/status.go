// Package status defines the canonical Genkit status codes and the error type
// that carries one. Every path that reports an error to a Genkit client (the v1
// HTTP API, the v2 JSON-RPC API, span status) maps Go errors through [FromError],
// so one error always has one code and one message wherever it is seen.
package status

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// Code is a canonical Genkit status code (the gRPC numbering, 0..16).
type Code int

// The canonical status codes.
const (
	OK                 Code = 0
	Cancelled          Code = 1
	Unknown            Code = 2
	InvalidArgument    Code = 3
	DeadlineExceeded   Code = 4
	NotFound           Code = 5
	AlreadyExists      Code = 6
	PermissionDenied   Code = 7
	ResourceExhausted  Code = 8
	FailedPrecondition Code = 9
	Aborted            Code = 10
	OutOfRange         Code = 11
	Unimplemented      Code = 12
	Internal           Code = 13
	Unavailable        Code = 14
	DataLoss           Code = 15
	Unauthenticated    Code = 16
)

var names = [...]string{
	"OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND",
	"ALREADY_EXISTS", "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION",
	"ABORTED", "OUT_OF_RANGE", "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS",
	"UNAUTHENTICATED",
}

var httpStatuses = [...]int{200, 499, 500, 400, 504, 404, 409, 403, 429, 400, 409, 400, 501, 500, 503, 500, 401}

// String returns the canonical name of c, such as "NOT_FOUND".
func (c Code) String() string {
	if c < 0 || int(c) >= len(names) {
		return fmt.Sprintf("Code(%d)", int(c))
	}
	return names[c]
}

// HTTPStatus returns the HTTP status conventionally paired with c.
func (c Code) HTTPStatus() int {
	if c < 0 || int(c) >= len(httpStatuses) {
		return 500
	}
	return httpStatuses[c]
}

// ParseCode returns the code whose canonical name is name.
func ParseCode(name string) (Code, bool) {
	for i, n := range names {
		if n == name {
			return Code(i), true
		}
	}
	return 0, false
}

// Error is an error with a canonical status code. Its Details, when set, are
// merged into the details object of the wire Status.
type Error struct {
	Code    Code
	Message string
	Details map[string]any
	// Err is the underlying cause, if any; it is not sent to clients.
	Err error
}

// Error returns the message prefixed with the status name, the way Genkit
// formats its own errors ("NOT_FOUND: no such thing").
func (e *Error) Error() string { return e.Code.String() + ": " + e.Message }

// Unwrap returns the underlying cause.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with the given code and a formatted message. A %w
// verb in format records the wrapped error as the cause.
func Errorf(code Code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// CodeOf returns the status code of err: the code of the first *Error in its
// chain, Cancelled for context.Canceled, DeadlineExceeded for
// context.DeadlineExceeded, OK for nil and Internal otherwise.
func CodeOf(err error) Code {
	if err == nil {
		return OK
	}
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Code
	}
	switch {
	case errors.Is(err, context.Canceled):
		return Cancelled
	case errors.Is(err, context.DeadlineExceeded):
		return DeadlineExceeded
	}
	return Internal
}

// Status is the wire form of an error: {code, message, details}. Details is
// always an object, because clients read fields of it unconditionally.
type Status struct {
	Code    Code           `json:"code"`
	Message string         `json:"message"`
	Details map[string]any `json:"details"`
}

// FromError converts err to its wire Status. The message of an *Error is
// "<STATUS>: <message>" like Genkit's own; cancellation has the fixed message
// "Action was cancelled" that clients recognise.
func FromError(err error) Status {
	st := Status{Code: CodeOf(err), Details: map[string]any{}}
	switch e, _ := errors.AsType[*Error](err); {
	case e != nil:
		st.Message = e.Error()
		for k, v := range e.Details {
			st.Details[k] = v
		}
	case st.Code == Cancelled:
		st.Message = "Action was cancelled"
	case err != nil:
		st.Message = err.Error()
	}
	return st
}

// WriteHTTP answers an HTTP request with st as its JSON body and httpCode
// as its status, the shape Genkit clients parse from a failed request
// ({code, message, details}). It returns the error of writing the body.
func WriteHTTP(w http.ResponseWriter, httpCode int, st Status) error {
	if st.Details == nil {
		st.Details = map[string]any{}
	}
	b, err := json.Marshal(st)
	if err != nil {
		// Details hold a value JSON cannot encode: say so without them.
		b, err = json.Marshal(Status{Code: st.Code, Message: st.Message, Details: map[string]any{}})
		if err != nil {
			return err
		}
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(httpCode)
	_, err = w.Write(b)
	return err
}
