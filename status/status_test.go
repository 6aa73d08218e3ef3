package status

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestCodeNames(t *testing.T) {
	tests := []struct {
		code Code
		name string
		http int
	}{
		{OK, "OK", 200},
		{Cancelled, "CANCELLED", 499},
		{Unknown, "UNKNOWN", 500},
		{InvalidArgument, "INVALID_ARGUMENT", 400},
		{DeadlineExceeded, "DEADLINE_EXCEEDED", 504},
		{NotFound, "NOT_FOUND", 404},
		{AlreadyExists, "ALREADY_EXISTS", 409},
		{PermissionDenied, "PERMISSION_DENIED", 403},
		{ResourceExhausted, "RESOURCE_EXHAUSTED", 429},
		{FailedPrecondition, "FAILED_PRECONDITION", 400},
		{Aborted, "ABORTED", 409},
		{OutOfRange, "OUT_OF_RANGE", 400},
		{Unimplemented, "UNIMPLEMENTED", 501},
		{Internal, "INTERNAL", 500},
		{Unavailable, "UNAVAILABLE", 503},
		{DataLoss, "DATA_LOSS", 500},
		{Unauthenticated, "UNAUTHENTICATED", 401},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if int(tt.code) != i {
				t.Errorf("%s = %d, want %d", tt.name, tt.code, i)
			}
			if got := tt.code.String(); got != tt.name {
				t.Errorf("String() = %q, want %q", got, tt.name)
			}
			if got := tt.code.HTTPStatus(); got != tt.http {
				t.Errorf("HTTPStatus() = %d, want %d", got, tt.http)
			}
			got, ok := ParseCode(tt.name)
			if !ok || got != tt.code {
				t.Errorf("ParseCode(%q) = %v, %v; want %v, true", tt.name, got, ok, tt.code)
			}
		})
	}
}

func TestCodeOutOfRange(t *testing.T) {
	for _, c := range []Code{-1, 17, 500} {
		if got, want := c.String(), fmt.Sprintf("Code(%d)", int(c)); got != want {
			t.Errorf("Code(%d).String() = %q, want %q", int(c), got, want)
		}
		if got := c.HTTPStatus(); got != 500 {
			t.Errorf("Code(%d).HTTPStatus() = %d, want 500", int(c), got)
		}
	}
	for _, name := range []string{"", "ok", "INTERNAL_SERVER_ERROR", "Code(3)"} {
		if c, ok := ParseCode(name); ok {
			t.Errorf("ParseCode(%q) = %v, true; want false", name, c)
		}
	}
}

func TestErrorf(t *testing.T) {
	err := Errorf(NotFound, "no %s: %w", "thing", io.EOF)
	if got, want := err.Error(), "NOT_FOUND: no thing: EOF"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !errors.Is(err, io.EOF) {
		t.Error("errors.Is(err, io.EOF) = false, want true")
	}
	if e := Errorf(Internal, "plain"); e.Err != nil {
		t.Errorf("Errorf without %%w: Err = %v, want nil", e.Err)
	}
}

func TestCodeOf(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Code
	}{
		{"nil", nil, OK},
		{"status", &Error{Code: PermissionDenied}, PermissionDenied},
		{"wrapped status", fmt.Errorf("outer: %w", &Error{Code: Aborted}), Aborted},
		{"canceled", context.Canceled, Cancelled},
		{"wrapped canceled", fmt.Errorf("x: %w", context.Canceled), Cancelled},
		{"deadline", context.DeadlineExceeded, DeadlineExceeded},
		{"status wins over cancel", &Error{Code: Unavailable, Err: context.Canceled}, Unavailable},
		{"plain", errors.New("boom"), Internal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := CodeOf(tt.err); got != tt.want {
				t.Errorf("CodeOf(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
}

func TestFromError(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Status
	}{
		{"nil", nil, Status{Code: OK, Details: map[string]any{}}},
		{"status", &Error{Code: NotFound, Message: "nope"}, Status{Code: NotFound, Message: "NOT_FOUND: nope", Details: map[string]any{}}},
		{
			"status with details",
			&Error{Code: Internal, Message: "x", Details: map[string]any{"stack": "s"}},
			Status{Code: Internal, Message: "INTERNAL: x", Details: map[string]any{"stack": "s"}},
		},
		{
			"wrapped status",
			fmt.Errorf("ctx: %w", &Error{Code: Aborted, Message: "a"}),
			Status{Code: Aborted, Message: "ABORTED: a", Details: map[string]any{}},
		},
		{"cancel", context.Canceled, Status{Code: Cancelled, Message: "Action was cancelled", Details: map[string]any{}}},
		{"deadline", context.DeadlineExceeded, Status{Code: DeadlineExceeded, Message: "context deadline exceeded", Details: map[string]any{}}},
		{"plain", errors.New("boom"), Status{Code: Internal, Message: "boom", Details: map[string]any{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, FromError(tt.err)); diff != "" {
				t.Errorf("FromError mismatch (-want +got):\n%s", diff)
			}
		})
	}
}

// TestFromErrorCopiesDetails checks that the wire Status does not share its
// details map with the error, so adding a trace ID to one run's Status never
// changes a shared error value.
func TestFromErrorCopiesDetails(t *testing.T) {
	e := &Error{Code: Internal, Message: "x", Details: map[string]any{"stack": "s"}}
	st := FromError(e)
	st.Details["traceId"] = "t"
	if diff := cmp.Diff(map[string]any{"stack": "s"}, e.Details); diff != "" {
		t.Errorf("error details changed (-want +got):\n%s", diff)
	}
}

func TestWriteHTTP(t *testing.T) {
	for _, tc := range []struct {
		name string
		st   Status
		want string
	}{
		{"nil details", Status{Code: NotFound, Message: "NOT_FOUND: x"}, `{"code":5,"message":"NOT_FOUND: x","details":{}}`},
		{"details", Status{Code: Internal, Message: "m", Details: map[string]any{"a": 1}}, `{"code":13,"message":"m","details":{"a":1}}`},
		{"unencodable details", Status{Code: Internal, Message: "m", Details: map[string]any{"f": func() {}}}, `{"code":13,"message":"m","details":{}}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			if err := WriteHTTP(rec, http.StatusTeapot, tc.st); err != nil {
				t.Fatal(err)
			}
			if rec.Code != http.StatusTeapot {
				t.Errorf("status %d, want %d", rec.Code, http.StatusTeapot)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			if got := rec.Body.String(); got != tc.want {
				t.Errorf("body %s, want %s", got, tc.want)
			}
		})
	}
}

func ExampleWriteHTTP() {
	rec := httptest.NewRecorder()
	err := WriteHTTP(rec, http.StatusNotFound, FromError(Errorf(NotFound, "no action %s", "/flow/x")))
	fmt.Println(rec.Code, rec.Body.String(), err)
	// Output:
	// 404 {"code":5,"message":"NOT_FOUND: no action /flow/x","details":{}} <nil>
}
