package reflection

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	jsontok "github.com/go-json-experiment/json/jsontext"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/genkit-runtime/genkit-runtime/fixture"
	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

// v1RunBodySeeds are runAction bodies from the v1 handler's table tests.
var v1RunBodySeeds = []string{
	`{"key":"/flow/echo","input":{"a":[1,"<b>"]},"runtimeId":"123-3100"}`,
	`{"key":"/flow/greet","input":{"name":"Ada","count":2}}`,
	`{"key":"/flow/greet","input":{"name":""}}`,
	`{"key":"/flow/echo"}`,
	`{"key":"/flow/echo","input":null,"context":null,"init":null}`,
	`{"key":"/flow/steps","input":{"steps":2}}`,
	`{"key":"/tool/add","input":{"a":1,"b":2}}`,
	`{"key":"/tool.v2/add","input":{"a":1,"b":2}}`,
	`{"key":"/model/echoModel","input":{"messages":[{"role":"user","content":[{"text":"hi"}]}]}}`,
	`{"key":"/flow/echo","input":1,"context":{"auth":{"t":1}},"telemetryLabels":{"l":"v"}}`,
	`{"key":"/flow/count","input":{"count":5}}`,
	`{"key":"/flow/count","input":{"count":3,"delayMs":1}}`,
	`{"key":"/flow/fail","input":{"status":"NOT_FOUND","message":"msg"}}`,
	`{"key":"/flow/fail","input":{"status":"OK","message":"msg"}}`,
	`{"key":"/flow/wait","input":{"ms":1}}`,
	`{"key":"/flow/nope"}`,
	`{"key":`,
	``,
	`{"key":5}`,
	`{"input":1}`,
	`{"key":""}`,
	`[]`,
	`null`,
	`{"key":"/flow/echo","context":[1]}`,
	`{"key":"/flow/echo","telemetryLabels":{"a":1}}`,
	`{"key":"/flow/echo","input":"` + strings.Repeat("x", 300) + `"}`,
}

// v1CheckRunResponse checks a runAction response against what every client
// relies on, whatever the request was.
func v1CheckRunResponse(t *testing.T, stream bool, rec *httptest.ResponseRecorder) {
	t.Helper()
	body := rec.Body.String()
	if rec.Code >= 500 {
		t.Fatalf("status %d for a request: %s", rec.Code, body)
	}
	if rec.Code != http.StatusOK {
		var st status.Status
		if err := json.Unmarshal([]byte(body), &st); err != nil || st.Details == nil || st.Code < 0 || st.Code > 16 {
			t.Fatalf("status %d with body %q, want a Status", rec.Code, body)
		}
		return
	}
	final := body
	if stream {
		i := strings.LastIndexByte(body, '\n')
		final = body[i+1:]
		if i >= 0 {
			for _, line := range strings.Split(body[:i], "\n") {
				if !json.Valid([]byte(line)) {
					t.Fatalf("chunk line %q is not JSON", line)
				}
			}
		}
	}
	var f struct {
		Result    json.RawMessage `json:"result"`
		Telemetry *telemetry      `json:"telemetry"`
		Error     *status.Status  `json:"error"`
	}
	if err := json.Unmarshal([]byte(final), &f); err != nil {
		t.Fatalf("final %q: %v", final, err)
	}
	switch {
	case f.Error != nil:
		if f.Error.Details == nil || f.Error.Code < 0 || f.Error.Code > 16 || f.Telemetry != nil {
			t.Fatalf("final error %q is not a well-formed Status", final)
		}
	case f.Telemetry == nil || f.Telemetry.TraceID != rec.Header().Get(HeaderTraceID):
		t.Fatalf("final %q: want telemetry.traceId equal to the trace header", final)
	}
}

// FuzzV1RunAction posts arbitrary bodies to /api/runAction of a real handler
// over the fixture: it never panics and never answers 5xx, and whatever it
// answers is framed the way clients parse it.
func FuzzV1RunAction(f *testing.F) {
	for _, s := range v1RunBodySeeds {
		f.Add(s, false)
		f.Add(s, true)
	}
	reg := registry.New(nil)
	if err := fixture.Register(reg); err != nil {
		f.Fatal(err)
	}
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(tracetest.NewNoopExporter()))
	f.Cleanup(func() { tp.Shutdown(context.Background()) })
	h := NewHandler(reg, &Options{TracerProvider: tp, MaxBodyBytes: 4096})
	f.Fuzz(func(t *testing.T, body string, stream bool) {
		target := "/api/runAction"
		if stream {
			target += "?stream=true"
		}
		// Fuzzed input may ask the fixture to wait or count for long; the
		// deadline ends such runs.
		ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
		defer cancel()
		req := httptest.NewRequestWithContext(ctx, http.MethodPost, target, strings.NewReader(body))
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		v1CheckRunResponse(t, stream, rec)
	})
}

// FuzzV1DecodeRunRequest checks the one-pass run request decoder against
// encoding/json: of UTF-8 bodies, it accepts exactly the well-formed ones whose
// members have the right types, decodes them to what encoding/json gives
// (member names matched exactly, where encoding/json ignores case), and a
// decoded request is well formed.
func FuzzV1DecodeRunRequest(f *testing.F) {
	for _, s := range v1RunBodySeeds {
		f.Add([]byte(s))
	}
	f.Add([]byte(`{"key":"/flow/echo","key":"/flow/greet","input":{"a":1,"a":2}}`))
	f.Add([]byte(`{"key":"\u002fflow\/echo","input":" spaced ","x":[{}]} `))
	f.Add([]byte(`{"key":"/flow/echo"} {}`))
	f.Add([]byte(`{"key":"/flow/echo","telemetryLabels":{"a":"1"},"telemetryLabels":{"b":"2"}}`))
	f.Add([]byte(`{"key":"/flow/\ud800","input":"\udc00"}`))
	f.Add([]byte(`{"key":"/flow/echo","stream":true,"streamInput":null,"Stream":false}`))
	f.Add([]byte(`{"key":"/flow/echo","stream":"yes"}`))
	f.Add([]byte(`{"key":"/flow/echo","telemetryLabels":{"a":null}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		if !utf8.Valid(data) {
			return // refused before decoding
		}
		var got runBody
		gotErr := got.decodeJSON(data, false)
		var want runBody
		wantErr := json.Unmarshal(data, &want)
		if gotErr == nil {
			if !json.Valid(data) {
				t.Fatalf("accepted %q, which is not valid JSON", data)
			}
		} else if wantErr == nil && exactMemberNames(data) && !nullLabel(data) {
			t.Fatalf("refused %q (%v), which encoding/json decodes", data, gotErr)
		}
		if gotErr != nil || wantErr != nil || !exactMemberNames(data) {
			return
		}
		if (got.Key == nil) != (want.Key == nil) || (got.Key != nil && *got.Key != *want.Key) {
			t.Fatalf("key %v; encoding/json %v", got.Key, want.Key)
		}
		for _, p := range []struct{ name, got, want string }{
			{"input", string(got.Input), string(want.Input)},
			{"init", string(got.Init), string(want.Init)},
			{"context", string(got.Context), string(want.Context)},
		} {
			if p.got != p.want {
				t.Fatalf("%s %q; encoding/json %q", p.name, p.got, p.want)
			}
		}
		if !maps.Equal(got.TelemetryLabels, want.TelemetryLabels) {
			t.Fatalf("telemetryLabels %v; encoding/json %v", got.TelemetryLabels, want.TelemetryLabels)
		}
		// v2 decodes the same bodies with the same code, plus the stream
		// switches, which v1 skips.
		var gotV2 runBody
		if err := gotV2.decodeJSON(data, true); err == nil {
			var wantSwitches struct{ Stream, StreamInput bool }
			if err := json.Unmarshal(data, &wantSwitches); err == nil && exactSwitchNames(data) &&
				(gotV2.Stream != wantSwitches.Stream || gotV2.StreamInput != wantSwitches.StreamInput) {
				t.Fatalf("v2 switches %v %v; encoding/json %+v", gotV2.Stream, gotV2.StreamInput, wantSwitches)
			}
			gotV2.Stream, gotV2.StreamInput = false, false
			if !reflect.DeepEqual(gotV2, got) {
				t.Fatalf("v2 decoded %+v; v1 %+v", gotV2, got)
			}
		}
		rr, err := decodeRunRequest(&got)
		if err != nil {
			if status.CodeOf(err) != status.InvalidArgument {
				t.Fatalf("decodeRunRequest error %v is not INVALID_ARGUMENT", err)
			}
			return
		}
		if got.Key == nil || rr.Key != *got.Key {
			t.Fatalf("decoded key %q from %v", rr.Key, got.Key)
		}
		for _, raw := range []json.RawMessage{rr.Input, rr.Init} {
			if string(raw) == "null" || (len(raw) > 0 && !json.Valid(raw)) {
				t.Fatalf("decoded raw value %q", raw)
			}
		}
	})
}

// nullLabel reports whether data's telemetryLabels hold a null, which
// encoding/json decodes as "" and the run decoder refuses.
func nullLabel(data []byte) bool {
	var v struct {
		TelemetryLabels map[string]*string `json:"telemetryLabels"`
	}
	if json.Unmarshal(data, &v) != nil {
		return false
	}
	for _, l := range v.TelemetryLabels {
		if l == nil {
			return true
		}
	}
	return false
}

// exactMemberNames reports whether the two decoders must agree on the JSON
// object data: every top-level member name that encoding/json would take
// for a run request field is spelled exactly as that field (encoding/json
// ignores case), and telemetryLabels appears at most once (encoding/json
// merges repeated objects into one map; the last one counts here).
func exactMemberNames(data []byte) bool {
	d := jsontok.NewDecoder(bytes.NewReader(data), jsontok.AllowDuplicateNames(true), jsontok.AllowInvalidUTF8(true))
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return true
	}
	labels := 0
	for d.PeekKind() != '}' {
		tok, err := d.ReadToken()
		if err != nil {
			return true
		}
		name := tok.String()
		if name == "telemetryLabels" {
			labels++
		}
		for _, field := range []string{"key", "input", "init", "context", "telemetryLabels"} {
			if name != field && strings.EqualFold(name, field) {
				return false
			}
		}
		if d.SkipValue() != nil {
			return true
		}
	}
	return labels <= 1
}

// exactSwitchNames reports whether the v2 stream switches of the JSON
// object data are spelled exactly, each at most once, so that the decoders
// must agree on them.
func exactSwitchNames(data []byte) bool {
	d := jsontok.NewDecoder(bytes.NewReader(data), jsontok.AllowDuplicateNames(true), jsontok.AllowInvalidUTF8(true))
	if tok, err := d.ReadToken(); err != nil || tok.Kind() != '{' {
		return true
	}
	for d.PeekKind() != '}' {
		tok, err := d.ReadToken()
		if err != nil {
			return true
		}
		name := tok.String()
		for _, field := range []string{"stream", "streamInput"} {
			if name != field && strings.EqualFold(name, field) {
				return false
			}
		}
		if d.SkipValue() != nil {
			return true
		}
	}
	return true
}

// FuzzV1NDJSONWriter writes arbitrary JSON chunks and a final object
// through the v1 run writer: every line but the last is one of the chunks,
// compacted, and the last parses to {result|error} with no newline after it.
func FuzzV1NDJSONWriter(f *testing.F) {
	f.Add([]byte("{\"index\":0}\x00{\"index\":1}\x00{\"count\":2}"), false)
	f.Add([]byte("0\x001\x00\"mid\""), true)
	f.Add([]byte("\"one\""), true)
	f.Add([]byte("[1, {\"a\" : \"<&>\"}]\x00\"line\\nbreak\"\x00{\"x\":\"\u2028\"}"), false)
	f.Add([]byte(""), false)
	f.Fuzz(func(t *testing.T, data []byte, fail bool) {
		rec := httptest.NewRecorder()
		rw := newRunWriter(rec, true)
		rw.start("0123456789abcdef0123456789abcdef", "0123456789abcdef")
		var want []string
		result := json.RawMessage("null")
		for _, piece := range bytes.Split(data, []byte{0}) {
			err := rw.chunk(json.RawMessage(piece))
			if !json.Valid(piece) {
				if err == nil {
					t.Fatalf("chunk %q is not JSON but was written", piece)
				}
				continue
			}
			if err != nil {
				t.Fatalf("chunk %q: %v", piece, err)
			}
			var c bytes.Buffer
			json.Compact(&c, piece)
			want = append(want, c.String())
			result = piece
		}
		var err error
		if fail {
			err = status.Errorf(status.Aborted, "after %d chunks", len(want))
		}
		if werr := rw.final(finalOf(registry.Result{Output: result, TraceID: "0123456789abcdef0123456789abcdef"}, err)); werr != nil {
			t.Fatal(werr)
		}
		body := rec.Body.String()
		i := strings.LastIndexByte(body, '\n')
		var lines []string
		if i >= 0 {
			lines = strings.Split(body[:i], "\n")
		}
		if strings.Join(lines, "\n") != strings.Join(want, "\n") {
			t.Fatalf("lines %q, want %q", lines, want)
		}
		var final map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body[i+1:]), &final); err != nil {
			t.Fatalf("final %q: %v", body[i+1:], err)
		}
		_, hasErr := final["error"]
		_, hasRes := final["result"]
		if hasErr != fail || hasRes == fail {
			t.Fatalf("final %q, want error: %v", body[i+1:], fail)
		}
	})
}
