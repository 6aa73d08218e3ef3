package conformance

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// exchange is one HTTP request and its response, read to the end.
type exchange struct {
	status int
	header http.Header
	body   []byte
	// err is a failure to send the request or to read the response.
	err error
	// headersAt and endAt are when the headers and the end of the body
	// arrived; firstLineAt, when the first newline did (zero if none did
	// or it was not watched for).
	headersAt, endAt, firstLineAt time.Time
	// exportedAtEnd reports whether the sink held the run's ended root
	// span when the body ended; nil when not a run or no trace id is known.
	exportedAtEnd *bool
}

func (x *exchange) summary() string {
	if x.err != nil {
		return x.err.Error()
	}
	return fmt.Sprintf("HTTP %d %s", x.status, cut(strings.TrimSpace(string(x.body)), 200))
}

// newRequest builds a request to the runtime.
func (r *runner) newRequest(ctx context.Context, method, path string, header map[string]string, body []byte) (*http.Request, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, strings.TrimSuffix(r.t.URL, "/")+path, rd)
	if err != nil {
		return nil, err
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	return req, nil
}

// httpDo sends a request and reads the whole response, within
// DefaultRunTimeout.
func (r *runner) httpDo(ctx context.Context, method, path string, header map[string]string, body []byte) *exchange {
	ctx, cancel := context.WithTimeout(ctx, DefaultRunTimeout)
	defer cancel()
	req, err := r.newRequest(ctx, method, path, header, body)
	if err != nil {
		return &exchange{err: err}
	}
	resp, err := r.client.Do(req)
	if err != nil {
		return &exchange{err: err}
	}
	x := &exchange{status: resp.StatusCode, header: resp.Header, headersAt: time.Now()}
	x.body, x.err = io.ReadAll(resp.Body)
	resp.Body.Close()
	x.endAt = time.Now()
	return x
}

// observation describes the exchange. run adds the fields of a runAction
// response: its NDJSON framing, chunks, final object and trace id.
func (x *exchange) observation(run bool) map[string]any {
	obs := map[string]any{}
	var whole any // the body decoded, if it is JSON
	if x.header != nil {
		obs["status"] = x.status
		h := map[string]any{}
		for k, v := range x.header {
			h[strings.ToLower(k)] = strings.Join(v, ", ")
		}
		obs["headers"] = h
		obs["text"] = string(x.body)
		obs["length"] = len(x.body)
		if v, err := decodeJSON(x.body); err == nil {
			obs["json"] = v
			whole = v
		}
	}
	if x.err != nil {
		obs["transportError"] = x.err.Error()
	}
	if !run || x.header == nil {
		return obs
	}
	chunks, final, framing := decodeFraming(x.body, whole)
	obs["chunks"] = chunks
	obs["framing"] = framing
	if final != nil {
		obs["final"] = final
	}
	if id := x.header.Get("X-Genkit-Trace-Id"); id != "" {
		obs["traceId"] = id
		obs["earlyTraceIdMs"] = x.endAt.Sub(x.headersAt).Milliseconds()
	}
	if !x.firstLineAt.IsZero() {
		obs["earlyChunkMs"] = x.endAt.Sub(x.firstLineAt).Milliseconds()
	}
	if x.exportedAtEnd != nil {
		obs["exportedAtEnd"] = *x.exportedAtEnd
	}
	return obs
}

// decodeFraming splits a runAction body as the CLI does: every line ended
// by '\n' is a chunk, and the bytes after the last '\n' are the final
// object. The framing observation says whether the body ended with a
// newline (which would make the final object a chunk and leave nothing
// to parse), how many chunk lines are not JSON, and whether the final
// segment is a JSON object. whole, if not nil, is the whole body already
// decoded, which is the final segment of a body without newlines.
func decodeFraming(body []byte, whole any) (chunks []any, final any, framing map[string]any) {
	segs := bytes.Split(body, []byte("\n"))
	last := segs[len(segs)-1]
	chunks = []any{}
	bad := 0
	for _, line := range segs[:len(segs)-1] {
		v, err := decodeJSON(line)
		if err != nil {
			bad++
			chunks = append(chunks, "<not JSON: "+cut(string(line), 100)+">")
			continue
		}
		chunks = append(chunks, v)
	}
	framing = map[string]any{
		"trailingNewline": bytes.HasSuffix(body, []byte("\n")),
		"chunkLines":      len(segs) - 1,
		"badChunkLines":   bad,
		"finalLine":       false,
		"finalKind":       "",
	}
	v, err := whole, error(nil)
	if v == nil || len(segs) > 1 {
		v, err = decodeJSON(last)
	}
	if err == nil {
		if m, ok := v.(map[string]any); ok {
			final = m
			framing["finalLine"] = true
			if _, isErr := m["error"]; isErr {
				framing["finalKind"] = "error"
			} else {
				framing["finalKind"] = "result"
			}
		}
	}
	return chunks, final, framing
}

// http performs an HTTP step.
func (cr *caseRun) http(ctx context.Context, h *HTTPStep) (map[string]any, error) {
	path, err := cr.vars.str(h.Path)
	if err != nil {
		return nil, err
	}
	header := map[string]string{}
	var body []byte
	switch {
	case h.JSON != nil:
		if body, err = cr.substRaw(h.JSON); err != nil {
			return nil, err
		}
		header["Content-Type"] = "application/json"
	case h.Fill != nil:
		n := h.Fill.Bytes - int64(len(h.Fill.Template)-len(fillMarker))
		i := strings.Index(h.Fill.Template, fillMarker)
		body = make([]byte, 0, h.Fill.Bytes)
		body = append(body, h.Fill.Template[:i]...)
		body = append(body, bytes.Repeat([]byte("x"), int(n))...)
		body = append(body, h.Fill.Template[i+len(fillMarker):]...)
		header["Content-Type"] = "application/json"
	case h.Body != nil:
		body = []byte(*h.Body)
	}
	for k, v := range h.Headers {
		if header[k], err = cr.vars.str(v); err != nil {
			return nil, err
		}
	}
	isRun := strings.HasPrefix(path, "/api/runAction")
	return cr.r.httpDo(ctx, h.Method, path, header, body).observation(isRun), nil
}

// runBody is the body of POST /api/runAction, as the CLI sends it.
func runBody(rs *RunStep) ([]byte, error) {
	m := map[string]any{"key": rs.Key}
	for k, v := range map[string]json.RawMessage{"input": rs.Input, "init": rs.Init, "context": rs.Context} {
		if v != nil {
			m[k] = v
		}
	}
	if rs.TelemetryLabels != nil {
		m["telemetryLabels"] = rs.TelemetryLabels
	}
	if rs.RuntimeID != "" {
		m["runtimeId"] = rs.RuntimeID
	}
	return json.Marshal(m)
}

// startV1 posts a run and returns once its response headers have come:
// the trace id is then known from X-Genkit-Trace-Id if the runtime sends
// it early. The body is read in the background.
func (r *runner) startV1(ctx context.Context, rs *RunStep, timeout time.Duration) (*bgRun, error) {
	body, err := runBody(rs)
	if err != nil {
		return nil, err
	}
	path := "/api/runAction"
	if rs.Stream {
		path += "?stream=true"
	}
	// The headers the CLI's axios sends.
	header := map[string]string{"Content-Type": "application/json", "Accept": "application/json, text/plain, */*"}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	b := &bgRun{cancel: cancel, done: make(chan struct{})}
	req, err := r.newRequest(ctx, http.MethodPost, path, header, body)
	if err != nil {
		cancel()
		return nil, err
	}
	resp, err := r.client.Do(req)
	if err != nil {
		b.obs = (&exchange{err: err}).observation(true)
		close(b.done)
		return b, nil
	}
	x := &exchange{status: resp.StatusCode, header: resp.Header, headersAt: time.Now()}
	b.traceID = resp.Header.Get("X-Genkit-Trace-Id")
	go func() {
		defer close(b.done)
		lr := &lineClock{r: resp.Body}
		x.body, x.err = io.ReadAll(lr)
		x.endAt, x.firstLineAt = time.Now(), lr.at
		resp.Body.Close()
		if id := b.traceID; id != "" || resp.StatusCode == http.StatusOK {
			if id == "" {
				id = traceIDOfBody(x.body)
			}
			if id != "" {
				ok := r.t.Sink.rootEnded(id)
				x.exportedAtEnd = &ok
			}
		}
		b.obs = x.observation(true)
	}()
	return b, nil
}

// lineClock is a reader that notes when the first newline, the end of a
// stream's first chunk line, is read.
type lineClock struct {
	r  io.Reader
	at time.Time
}

func (c *lineClock) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	if c.at.IsZero() && bytes.IndexByte(p[:n], '\n') >= 0 {
		c.at = time.Now()
	}
	return n, err
}

// traceIDOfBody finds the trace id in a run's final object:
// telemetry.traceId or error.details.traceId.
func traceIDOfBody(body []byte) string {
	_, final, _ := decodeFraming(body, nil)
	for _, p := range []string{"telemetry.traceId", "error.details.traceId"} {
		if v, ok, _ := lookup(final, p); ok {
			if s, ok := v.(string); ok {
				return s
			}
		}
	}
	return ""
}
