package clitest

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
)

// ToolsError is an error answer from a tools API procedure. The tools API is
// tRPC v10: an error body is {"error":{"message","code","data":{"code",
// "httpStatus","path","stack","genkitErrorMessage","genkitErrorDetails"}}},
// where the genkit* fields are present when the runtime's own error is
// passed through (tools-common server/router.ts errorFormatter).
type ToolsError struct {
	// Procedure is the tRPC procedure, e.g. "listActions".
	Procedure string
	// HTTPStatus is the HTTP status of the answer.
	HTTPStatus int
	// Message is error.message.
	Message string
	// Code is the tRPC code name in error.data.code, e.g. "INTERNAL_SERVER_ERROR".
	Code string
	// GenkitErrorMessage is error.data.genkitErrorMessage.
	GenkitErrorMessage string
	// GenkitErrorDetails is error.data.genkitErrorDetails, or nil.
	GenkitErrorDetails json.RawMessage
	// Body is the whole answer.
	Body []byte
}

// Error implements the error interface.
func (e *ToolsError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "tools API %s: HTTP %d", e.Procedure, e.HTTPStatus)
	if e.Code != "" {
		fmt.Fprintf(&b, " %s", e.Code)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.GenkitErrorMessage != "" && e.GenkitErrorMessage != e.Message {
		fmt.Fprintf(&b, " (genkit: %s)", e.GenkitErrorMessage)
	}
	return b.String()
}

// trpcAnswer is the envelope of a tRPC v10 answer without a data transformer.
type trpcAnswer struct {
	Result *struct {
		Data json.RawMessage `json:"data"`
	} `json:"result"`
	Error *struct {
		Message string `json:"message"`
		Data    struct {
			Code               string          `json:"code"`
			GenkitErrorMessage string          `json:"genkitErrorMessage"`
			GenkitErrorDetails json.RawMessage `json:"genkitErrorDetails"`
		} `json:"data"`
	} `json:"error"`
}

// ToolsGet calls the tools API query proc the way the Developer UI does,
// GET /api/<proc>?input=<URL-encoded JSON of input> (no input parameter when
// input is nil), and returns result.data. A tRPC error answer is returned as
// a *[ToolsError].
func (s *Session) ToolsGet(ctx context.Context, proc string, input any) (json.RawMessage, error) {
	base, err := s.toolsBase()
	if err != nil {
		return nil, err
	}
	u := base + "/api/" + proc
	if input != nil {
		b, err := json.Marshal(input)
		if err != nil {
			return nil, fmt.Errorf("encoding input of %s: %w", proc, err)
		}
		u += "?input=" + url.QueryEscape(string(b))
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := s.client.Do(req)
	if err != nil {
		return nil, err
	}
	return decodeTRPC(proc, resp)
}

// ToolsMutation calls the tools API mutation proc, POST /api/<proc> with the
// JSON of input as the body (no body when input is nil), and returns
// result.data. For example "cancelAction" with {"traceId": id} cancels a run
// started through /api/runAction or /api/streamAction. A tRPC error answer
// is returned as a *[ToolsError].
func (s *Session) ToolsMutation(ctx context.Context, proc string, input any) (json.RawMessage, error) {
	resp, err := s.ToolsPost(ctx, "/api/"+proc, input)
	if err != nil {
		return nil, err
	}
	return decodeTRPC(proc, resp)
}

// ToolsPost posts body to path on the tools server (e.g. "/api/runAction",
// "/api/streamAction?bidi=true", "/api/sendBidiInput") with Content-Type
// application/json and returns the raw answer; the caller closes its body.
// A body of type []byte, json.RawMessage or io.Reader is sent as is, nil
// sends no body, anything else is encoded as JSON.
func (s *Session) ToolsPost(ctx context.Context, path string, body any) (*http.Response, error) {
	base, err := s.toolsBase()
	if err != nil {
		return nil, err
	}
	var r io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		r = bytes.NewReader(b)
	case json.RawMessage:
		r = bytes.NewReader(b)
	case io.Reader:
		r = b
	default:
		enc, err := json.Marshal(b)
		if err != nil {
			return nil, fmt.Errorf("encoding body for %s: %w", path, err)
		}
		r = bytes.NewReader(enc)
	}
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+path, r)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return s.client.Do(req)
}

// toolsBase returns the tools API base address, or an error without a UI.
func (s *Session) toolsBase() (string, error) {
	base := s.ToolsURL()
	if base == "" {
		return "", errors.New("no tools API: the session was started with NoUI")
	}
	return base, nil
}

// decodeTRPC reads and closes resp and unwraps a tRPC v10 answer.
func decodeTRPC(proc string, resp *http.Response) (json.RawMessage, error) {
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, fmt.Errorf("tools API %s: reading answer: %w", proc, err)
	}
	te := &ToolsError{Procedure: proc, HTTPStatus: resp.StatusCode, Body: body}
	var a trpcAnswer
	if err := json.Unmarshal(body, &a); err != nil {
		te.Message = fmt.Sprintf("answer is not JSON (%v): %.200q", err, body)
		return nil, te
	}
	switch {
	case a.Error != nil:
		te.Message = a.Error.Message
		te.Code = a.Error.Data.Code
		te.GenkitErrorMessage = a.Error.Data.GenkitErrorMessage
		if len(a.Error.Data.GenkitErrorDetails) > 0 {
			te.GenkitErrorDetails = a.Error.Data.GenkitErrorDetails
		}
		return nil, te
	case a.Result == nil:
		te.Message = fmt.Sprintf("answer has neither result nor error: %.200q", body)
		return nil, te
	case resp.StatusCode != http.StatusOK:
		te.Message = "result with a non-200 status"
		return nil, te
	}
	if len(a.Result.Data) == 0 {
		// A procedure that returns nothing answers {"result":{}}.
		return json.RawMessage("null"), nil
	}
	return a.Result.Data, nil
}
