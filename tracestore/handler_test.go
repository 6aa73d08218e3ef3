package tracestore

import (
	"bufio"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

// encodeURI is JavaScript's encodeURI, which the CLI applies to the filter
// JSON.
func encodeURI(s string) string {
	const keep = ";,/?:@&=+$-_.!~*'()#"
	var b strings.Builder
	for _, c := range []byte(s) {
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(keep, c) >= 0 {
			b.WriteByte(c)
			continue
		}
		b.WriteString("%" + strings.ToUpper(string("0123456789abcdef"[c>>4])+string("0123456789abcdef"[c&15])))
	}
	return b.String()
}

func newServer(t *testing.T, s *Store, opts *HandlerOptions) (*httptest.Server, *Handler) {
	t.Helper()
	h := NewHandler(s, opts)
	srv := httptest.NewServer(h)
	t.Cleanup(func() {
		h.Close()
		srv.Close()
	})
	return srv, h
}

func do(t *testing.T, method, u, contentType, body string) (*http.Response, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

func TestHandlerList(t *testing.T) {
	srv, _ := newServer(t, listFixture(t), nil)
	tests := []struct {
		name      string
		query     string
		want      []string
		wantToken string
	}{
		{"default", "", []string{"u1", "f2", "m1", "f1", "x1"}, ""},
		{"limit", "?limit=2", []string{"u1", "f2"}, "2"},
		{"continuation", "?limit=2&continuationToken=2", []string{"m1", "f1"}, "4"},
		{"bad limit means default", "?limit=abc", []string{"u1", "f2", "m1", "f1", "x1"}, ""},
		{"cli filter encoding", "?filter=" + encodeURI(`{"eq":{"type":"flow"}}`), []string{"f2", "f1"}, ""},
		{"trailing slash", "/?limit=1", []string{"u1"}, "1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, body := do(t, "GET", srv.URL+"/api/traces"+tt.query, "", "")
			if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
				t.Fatalf("status %d, Content-Type %q: %s", resp.StatusCode, resp.Header.Get("Content-Type"), body)
			}
			var got ListResult
			if err := json.Unmarshal([]byte(body), &got); err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tt.want, listedIDs(got)); diff != "" {
				t.Errorf("ids (-want +got):\n%s", diff)
			}
			if got.ContinuationToken != tt.wantToken {
				t.Errorf("token = %q, want %q", got.ContinuationToken, tt.wantToken)
			}
			if tt.wantToken == "" && strings.Contains(body, "continuationToken") {
				t.Errorf("last page carries a continuationToken: %s", body)
			}
		})
	}

	resp, body := do(t, "GET", srv.URL+"/api/traces?filter="+url.QueryEscape(`{"eq":`), "", "")
	if resp.StatusCode != 400 || !strings.Contains(body, `"code":3`) {
		t.Errorf("bad filter: %d %s", resp.StatusCode, body)
	}
}

func TestHandlerGet(t *testing.T) {
	s := New(nil)
	want := batch(tid, span(tid, "root", "", 1, 2, map[string]any{"html": "<b>&</b>"}))
	mustIngest(t, s, want)
	srv, _ := newServer(t, s, nil)

	for _, path := range []string{"/api/traces/" + tid, "/api/traces/" + tid + "/"} {
		resp, body := do(t, "GET", srv.URL+path, "", "")
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/json; charset=utf-8" {
			t.Fatalf("GET %s: %d %q", path, resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		var got TraceData
		if err := json.Unmarshal([]byte(body), &got); err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("GET %s (-want +got):\n%s", path, diff)
		}
		if !strings.Contains(body, `"<b>&</b>"`) {
			t.Errorf("HTML was escaped, unlike JSON.stringify: %s", body)
		}
	}

	resp, body := do(t, "GET", srv.URL+"/api/traces/unknown", "", "")
	if resp.StatusCode != 200 || body != "" {
		t.Errorf("unknown trace: %d %q, want 200 and an empty body", resp.StatusCode, body)
	}
}

func TestHandlerPost(t *testing.T) {
	valid := `{"traceId":"t1","displayName":"root","startTime":1,"endTime":2,"spans":{"s1":{
		"spanId":"s1","traceId":"t1","startTime":1,"endTime":2,"attributes":{"genkit:type":"action","big":12345678901234567890},
		"displayName":"root","instrumentationLibrary":{"name":"genkit-tracer","version":"v1"},"spanKind":"INTERNAL",
		"links":[],"sameProcessAsParentSpan":{"value":true},"status":{"code":0},"timeEvents":{"timeEvent":[]}}}}`
	tests := []struct {
		name        string
		contentType string
		body        string
		wantStatus  int
		wantCode    int
		wantMsg     string
	}{
		{"valid", "application/json", valid, 200, 0, ""},
		{"valid with charset", "application/json; charset=utf-8", valid, 200, 0, ""},
		{"no spans", "application/json", `{"traceId":"t1","spans":{}}`, 200, 0, ""},
		{"wrong content type", "text/plain", valid, 400, 3, "Content-Type"},
		{"malformed", "application/json", `{"traceId":`, 400, 3, "invalid JSON"},
		{"trailing data", "application/json", `{"traceId":"t","spans":{}} {}`, 400, 3, "invalid JSON"},
		{"not an object", "application/json", `[]`, 400, 3, "(root): Expected object, received array"},
		{"missing traceId", "application/json", `{"spans":{}}`, 400, 3, "traceId: Required"},
		{"traceId type", "application/json", `{"traceId":1,"spans":{}}`, 400, 3, "traceId: Expected string, received number"},
		{"spans missing", "application/json", `{"traceId":"t"}`, 400, 3, "spans: Required"},
		{"null displayName", "application/json", `{"traceId":"t","displayName":null,"spans":{}}`, 400, 3, "displayName: Expected string, received null"},
		{"span missing startTime", "application/json", strings.Replace(valid, `"startTime":1,"endTime":2,"attributes"`, `"endTime":2,"attributes"`, 1), 400, 3, "spans.s1.startTime: Required"},
		{"null attributes", "application/json", strings.Replace(valid, `"attributes":{"genkit:type":"action","big":12345678901234567890}`, `"attributes":null`, 1), 400, 3, "spans.s1.attributes: Expected object, received null"},
		{"library without name", "application/json", strings.Replace(valid, `{"name":"genkit-tracer","version":"v1"}`, `{}`, 1), 400, 3, "spans.s1.instrumentationLibrary.name: Required"},
		{"status code string", "application/json", strings.Replace(valid, `"status":{"code":0}`, `"status":{"code":"0"}`, 1), 400, 3, "spans.s1.status.code: Expected number, received string"},
		{"time event without description", "application/json", strings.Replace(valid, `"timeEvent":[]`, `"timeEvent":[{"time":1,"annotation":{"attributes":{}}}]`, 1), 400, 3, "spans.s1.timeEvents.timeEvent.0.annotation.description: Required"},
		{"link flags", "application/json", strings.Replace(valid, `"links":[]`, `"links":[{"context":{"traceId":"a","spanId":"b"}}]`, 1), 400, 3, "spans.s1.links.0.context.traceFlags: Required"},
		{"empty trace id", "application/json", `{"traceId":"","spans":{}}`, 400, 3, "trace id is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := New(nil)
			srv, _ := newServer(t, s, nil)
			resp, body := do(t, "POST", srv.URL+"/api/traces", tt.contentType, tt.body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.wantStatus, body)
			}
			if tt.wantStatus == 200 {
				if body != "OK" {
					t.Errorf("body = %q, want OK", body)
				}
				if _, ok := s.Get("t1"); !ok {
					t.Error("trace not stored")
				}
				return
			}
			var st struct {
				Code    int            `json:"code"`
				Message string         `json:"message"`
				Details map[string]any `json:"details"`
			}
			if err := json.Unmarshal([]byte(body), &st); err != nil {
				t.Fatalf("error body %q: %v", body, err)
			}
			if st.Code != tt.wantCode || !strings.Contains(st.Message, tt.wantMsg) || st.Details == nil {
				t.Errorf("error = %+v, want code %d and a message containing %q", st, tt.wantCode, tt.wantMsg)
			}
		})
	}
}

func TestHandlerPostKeepsNumbers(t *testing.T) {
	s := New(nil)
	srv, _ := newServer(t, s, nil)
	body := `{"traceId":"t","spans":{"a":{"spanId":"a","traceId":"t","startTime":1,"endTime":2,
		"attributes":{"n":12345678901234567890},"displayName":"a","instrumentationLibrary":{"name":"x"},"spanKind":"INTERNAL"}}}`
	if resp, b := do(t, "POST", srv.URL+"/api/traces/", "application/json", body); resp.StatusCode != 200 {
		t.Fatalf("POST: %d %s", resp.StatusCode, b)
	}
	_, got := do(t, "GET", srv.URL+"/api/traces/t", "", "")
	if !strings.Contains(got, `"n":12345678901234567890`) {
		t.Errorf("large number not kept exactly: %s", got)
	}
}

func TestHandlerBodyLimit(t *testing.T) {
	srv, _ := newServer(t, New(nil), &HandlerOptions{MaxBodyBytes: 64})
	resp, body := do(t, "POST", srv.URL+"/api/traces", "application/json", `{"traceId":"t","spans":{},"pad":"`+strings.Repeat("x", 100)+`"}`)
	if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(body, `"code":8`) {
		t.Errorf("oversized body: %d %s", resp.StatusCode, body)
	}
}

// sseReader reads "data: …\n\n" messages from a trace stream.
type sseReader struct {
	t  *testing.T
	br *bufio.Reader
}

func (r *sseReader) next() (string, error) {
	var msg strings.Builder
	for {
		line, err := r.br.ReadString('\n')
		if err != nil {
			return "", err
		}
		if line == "\n" {
			return msg.String(), nil
		}
		if !strings.HasPrefix(line, "data: ") {
			r.t.Fatalf("unexpected SSE line %q", line)
		}
		msg.WriteString(strings.TrimSuffix(strings.TrimPrefix(line, "data: "), "\n"))
	}
}

func (r *sseReader) event() Event {
	r.t.Helper()
	msg, err := r.next()
	if err != nil {
		r.t.Fatalf("reading stream: %v", err)
	}
	var ev Event
	if err := json.Unmarshal([]byte(msg), &ev); err != nil {
		r.t.Fatalf("event %q: %v", msg, err)
	}
	return ev
}

func openStream(t *testing.T, ctx context.Context, u string) (*http.Response, *sseReader) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, "GET", u, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "text/event-stream")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp, &sseReader{t: t, br: bufio.NewReader(resp.Body)}
}

func TestHandlerStream(t *testing.T) {
	s := New(nil)
	mustIngest(t, s, batch(tid, span(tid, "root", "", 1, 0, nil)))
	srv, h := newServer(t, s, nil)

	resp, r := openStream(t, context.Background(), srv.URL+"/api/traces/"+tid+"/stream")
	wantHeaders := map[string]string{
		"Content-Type":                 "text/event-stream",
		"Cache-Control":                "no-cache",
		"Connection":                   "keep-alive",
		"Access-Control-Allow-Origin":  "*",
		"Access-Control-Allow-Headers": "Content-Type",
	}
	for k, v := range wantHeaders {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("header %s = %q, want %q", k, got, v)
		}
	}
	msg, err := r.next()
	if err != nil {
		t.Fatal(err)
	}
	var snap TraceData
	if err := json.Unmarshal([]byte(msg), &snap); err != nil || snap.TraceID != tid || len(snap.Spans) != 1 {
		t.Fatalf("snapshot %q: %v", msg, err)
	}

	post := func(td TraceData) {
		b, err := json.Marshal(td)
		if err != nil {
			t.Fatal(err)
		}
		if resp, body := do(t, "POST", srv.URL+"/api/traces", "application/json", string(b)); resp.StatusCode != 200 {
			t.Fatalf("POST: %d %s", resp.StatusCode, body)
		}
	}
	post(batch(tid, span(tid, "child", "root", 2, 3, nil), span(tid, "late", "root", 2.5, 0, nil)))
	post(batch(tid, span(tid, "root", "", 1, 4, nil)))
	post(batch(tid, span(tid, "child", "root", 2, 0, nil))) // stale start: no event

	want := []evKey{
		{SpanStart, "child", 3}, {SpanStart, "late", 0}, {SpanEnd, "child", 3},
		{SpanStart, "root", 4}, {SpanEnd, "root", 4},
	}
	var got []Event
	for range want {
		got = append(got, r.event())
	}
	if diff := cmp.Diff(want, keys(got)); diff != "" {
		t.Errorf("stream events (-want +got):\n%s", diff)
	}
	if got[0].TraceID != tid {
		t.Errorf("event traceId = %q", got[0].TraceID)
	}

	h.Close()
	if _, err := r.next(); err != io.EOF {
		t.Errorf("after Handler.Close the stream gave %v, want EOF", err)
	}
}

func TestHandlerStreamUnknownTrace(t *testing.T) {
	s := New(nil)
	srv, _ := newServer(t, s, nil)
	_, r := openStream(t, context.Background(), srv.URL+"/api/traces/new/stream")
	// The response headers arrived; the first message is the first event,
	// not a snapshot.
	mustIngest(t, s, batch("new", span("new", "a", "", 1, 0, nil)))
	if ev := r.event(); ev.Type != SpanStart || ev.Span.SpanID != "a" {
		t.Errorf("first message = %+v", ev)
	}
}

func TestHandlerStreamEndsOnShutdownAndDisconnect(t *testing.T) {
	s := New(nil)
	srv, _ := newServer(t, s, nil)

	ctx, cancel := context.WithCancel(context.Background())
	_, r1 := openStream(t, ctx, srv.URL+"/api/traces/a/stream")
	_, r2 := openStream(t, context.Background(), srv.URL+"/api/traces/b/stream")
	waitFor(t, "two subscribers", func() bool { return s.Stats().Subscribers == 2 })

	cancel()
	if _, err := r1.next(); err == nil {
		t.Error("cancelled stream still readable")
	}
	waitFor(t, "the disconnected stream to unsubscribe", func() bool { return s.Stats().Subscribers == 1 })

	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := r2.next(); err != io.EOF {
		t.Errorf("after Store.Shutdown the stream gave %v, want EOF", err)
	}
}

// waitFor polls cond until it holds or a deadline passes. It is used only
// where the server side reacts to a client disconnect asynchronously and
// offers nothing to wait on.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestHandlerStreamSlowConsumerEnds(t *testing.T) {
	s := New(&Options{SubscriberBuffer: 1})
	srv, _ := newServer(t, s, nil)
	_, r := openStream(t, context.Background(), srv.URL+"/api/traces/t/stream")
	waitFor(t, "the subscriber", func() bool { return s.Stats().Subscribers == 1 })
	// Many events at once overflow a one-event buffer: the stream ends
	// instead of blocking the store.
	spans := []SpanData{}
	for i := range 50 {
		spans = append(spans, span("t", "s"+string(rune('a'+i%26))+string(rune('a'+i/26)), "", float64(i), float64(i)+1, nil))
	}
	mustIngest(t, s, batch("t", spans...))
	for {
		if _, err := r.next(); err != nil {
			if err != io.EOF {
				t.Errorf("stream ended with %v, want EOF", err)
			}
			break
		}
	}
	if st := s.Stats(); st.DroppedSubscribers != 1 {
		t.Errorf("DroppedSubscribers = %d, want 1", st.DroppedSubscribers)
	}
}

func FuzzDecodeTraceData(f *testing.F) {
	f.Add(`{"traceId":"t","spans":{}}`)
	f.Add(`{"traceId":"t","displayName":"x","startTime":1,"endTime":2,"spans":{"a":{"spanId":"a","traceId":"t","startTime":1,"endTime":2,"attributes":{},"displayName":"a","instrumentationLibrary":{"name":"x"},"spanKind":"INTERNAL","links":[{"context":{"traceId":"a","spanId":"b","traceFlags":1}}],"status":{"code":2,"message":"m"},"timeEvents":{"timeEvent":[{"time":1,"annotation":{"attributes":{},"description":"exception"}}]}}}}`)
	f.Add(`[]`)
	f.Add(`{"traceId":1}`)
	f.Fuzz(func(t *testing.T, in string) {
		td, err := DecodeTraceData([]byte(in))
		if err != nil {
			return
		}
		// A decoded trace re-encodes to a document that decodes the same.
		b, err := json.Marshal(td)
		if err != nil {
			t.Fatalf("re-encoding: %v", err)
		}
		if _, err := DecodeTraceData(b); err != nil {
			t.Fatalf("re-encoded %s does not decode: %v", b, err)
		}
		s := New(nil)
		_ = s.Ingest(td)
	})
}

// noFlushWriter hides the Flush method of the writer it wraps.
type noFlushWriter struct{ w http.ResponseWriter }

func (n noFlushWriter) Header() http.Header         { return n.w.Header() }
func (n noFlushWriter) Write(b []byte) (int, error) { return n.w.Write(b) }
func (n noFlushWriter) WriteHeader(code int)        { n.w.WriteHeader(code) }

func TestHandlerStreamNeedsFlush(t *testing.T) {
	s := New(nil)
	h := NewHandler(s, nil)
	defer h.Close()
	rec := httptest.NewRecorder()
	h.ServeHTTP(noFlushWriter{rec}, httptest.NewRequest("GET", "/api/traces/x/stream", nil))
	if rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), `"code":13`) {
		t.Errorf("stream without flushing: %d %s", rec.Code, rec.Body.String())
	}
	if st := s.Stats(); st.Subscribers != 0 {
		t.Errorf("Subscribers = %d, want 0", st.Subscribers)
	}
}
