package conformance_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"sync"

	"github.com/genkit-runtime/genkit-runtime/status"
)

// The deliberate breakages: middleware around a correct v1 handler, and
// frame rewrites between a correct v2 runtime and its manager, each
// breaking one rule of the protocol.

// rewriter is a ResponseWriter that changes a response on its way out:
// header edits the header before it is sent, and line replaces each line
// of the body (final: the bytes after the last newline, written when the
// handler returns). It keeps the handler's flushes, so early headers and
// streamed chunks still go out as they are written.
type rewriter struct {
	http.ResponseWriter
	header func(http.Header)
	line   func(line []byte, final bool) []byte

	wroteHeader bool
	buf         []byte // the start of a line not yet ended
}

// rewrite returns middleware that passes the responses of the requests
// for which match holds through a rewriter.
func rewrite(match func(*http.Request) bool, header func(http.Header), line func([]byte, bool) []byte) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if !match(r) {
				next.ServeHTTP(w, r)
				return
			}
			rw := &rewriter{ResponseWriter: w, header: header, line: line}
			next.ServeHTTP(rw, r)
			rw.finish()
		})
	}
}

func (w *rewriter) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	w.wroteHeader = true
	h := w.Header()
	// The body changes size.
	h.Del("Content-Length")
	if w.header != nil {
		w.header(h)
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *rewriter) Write(p []byte) (int, error) {
	w.WriteHeader(http.StatusOK)
	if w.line == nil {
		return w.ResponseWriter.Write(p)
	}
	w.buf = append(w.buf, p...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			return len(p), nil
		}
		out := append(w.line(w.buf[:i:i], false), '\n')
		w.buf = w.buf[i+1:]
		if _, err := w.ResponseWriter.Write(out); err != nil {
			return len(p), err
		}
	}
}

// Flush implements http.Flusher.
func (w *rewriter) Flush() {
	w.WriteHeader(http.StatusOK)
	http.NewResponseController(w.ResponseWriter).Flush()
}

// Unwrap lets http.ResponseController reach the server's writer.
func (w *rewriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// finish writes the final segment of the body.
func (w *rewriter) finish() {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if w.line == nil {
		return
	}
	if out := w.line(w.buf, true); len(out) > 0 {
		w.ResponseWriter.Write(out)
	}
}

// isRun matches runAction requests; isStreamedRun, streamed ones.
func isRun(r *http.Request) bool { return r.URL.Path == "/api/runAction" }

func isStreamedRun(r *http.Request) bool {
	return isRun(r) && r.URL.Query().Get("stream") == "true"
}

func anyRequest(*http.Request) bool { return true }

// editStatuses returns a line rewrite applying edit to each Status in a
// JSON line: a bare Status body, or the error of a {"error": Status}
// final object. Other lines pass unchanged.
func editStatuses(edit func(st map[string]any)) func([]byte, bool) []byte {
	return func(line []byte, _ bool) []byte {
		if !bytes.Contains(line, []byte(`"code"`)) {
			return line // cheap for large results
		}
		var v map[string]any
		dec := json.NewDecoder(bytes.NewReader(line))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return line
		}
		st, _ := v["error"].(map[string]any)
		if st == nil {
			st = v
		}
		if _, ok := st["code"].(json.Number); !ok {
			return line
		}
		edit(st)
		b, err := json.Marshal(v)
		if err != nil {
			return line
		}
		return b
	}
}

// trailingNewline ends every streamed run with a newline after its final
// line, as the Go SDK's cancel path does (protocol.md §8.1).
var trailingNewline = rewrite(isStreamedRun, nil, func(line []byte, final bool) []byte {
	if final && len(line) > 0 {
		return append(line, '\n')
	}
	return line
})

// httpStatusCodes puts the HTTP status paired with each canonical code
// in Status.code (404 for NOT_FOUND), as the Go SDK does (protocol.md
// §8.3).
var httpStatusCodes = rewrite(anyRequest, nil, editStatuses(func(st map[string]any) {
	n, _ := st["code"].(json.Number).Int64()
	st["code"] = status.Code(n).HTTPStatus()
}))

// noDetails leaves details out of every Status (protocol.md §8.6).
var noDetails = rewrite(anyRequest, nil, editStatuses(func(st map[string]any) {
	delete(st, "details")
}))

// noTraceIDHeader sends runs without X-Genkit-Trace-Id (protocol.md
// §1.3).
var noTraceIDHeader = rewrite(isRun, func(h http.Header) { h.Del("X-Genkit-Trace-Id") }, nil)

// wrappedChunks sends each streamed chunk as {"chunk": <chunk>} instead of
// the bare chunk (protocol.md §1.3).
var wrappedChunks = rewrite(isStreamedRun, nil, func(line []byte, final bool) []byte {
	if final {
		return line
	}
	return append(append([]byte(`{"chunk":`), line...), '}')
})

// heldChunks holds a streamed run's chunks back and writes them with its
// final line, while the headers still go out early: the chunks are not
// streamed (protocol.md §1.3).
func heldChunks(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !isStreamedRun(r) {
			next.ServeHTTP(w, r)
			return
		}
		hw := &holdingWriter{ResponseWriter: w}
		next.ServeHTTP(hw, r)
		w.Write(hw.held)
	})
}

// holdingWriter keeps the body it is given; flushes send only the
// header.
type holdingWriter struct {
	http.ResponseWriter
	held []byte
}

func (w *holdingWriter) Write(p []byte) (int, error) {
	w.held = append(w.held, p...)
	return len(p), nil
}

// Flush implements http.Flusher.
func (w *holdingWriter) Flush() { http.NewResponseController(w.ResponseWriter).Flush() }

// unhealthy answers every health check 500 (protocol.md §1.2).
func unhealthy(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/__health" {
			http.Error(w, "unhealthy", http.StatusInternalServerError)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// healthIgnoresID answers health checks without looking at the runtime
// id they name (protocol.md §1.2, §8.9).
func healthIgnoresID(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/__health" {
			r = r.Clone(r.Context())
			r.URL.RawQuery = ""
		}
		next.ServeHTTP(w, r)
	})
}

// notifyIgnored answers /api/notify without acting on it, so the runtime
// never learns where to export its traces (protocol.md §1.5, §6.3).
func notifyIgnored(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/notify" {
			io.Copy(io.Discard, r.Body)
			io.WriteString(w, "OK")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// rewriteNotification returns a v2 frame rewrite applying edit to the
// notifications of method the runtime sends; edit returns the frames to
// send instead.
func rewriteNotification(method string, edit func(msg map[string]any) []map[string]any) func([]byte) [][]byte {
	return func(frame []byte) [][]byte {
		if !strings.Contains(string(frame), `"`+method+`"`) {
			return [][]byte{frame}
		}
		var msg map[string]any
		if err := json.Unmarshal(frame, &msg); err != nil || msg["method"] != method {
			return [][]byte{frame}
		}
		var out [][]byte
		for _, m := range edit(msg) {
			b, err := json.Marshal(m)
			if err != nil {
				return [][]byte{frame}
			}
			out = append(out, b)
		}
		return out
	}
}

// stateTwice sends each runActionState notification twice, as the Go
// SDK sends one per nested span (protocol.md §8.25).
var stateTwice = rewriteNotification("runActionState", func(m map[string]any) []map[string]any {
	return []map[string]any{m, m}
})

// chunkRenamed sends streamChunk notifications with their chunk under
// "data" (protocol.md §5.2).
var chunkRenamed = rewriteNotification("streamChunk", func(m map[string]any) []map[string]any {
	if p, ok := m["params"].(map[string]any); ok {
		p["data"] = p["chunk"]
		delete(p, "chunk")
	}
	return []map[string]any{m}
})

// jsonrpcVersion sends every response with "jsonrpc": "1.0" instead of
// "2.0" (protocol.md §5.1).
func jsonrpcVersion(frame []byte) [][]byte {
	var msg map[string]any
	if err := json.Unmarshal(frame, &msg); err != nil {
		return [][]byte{frame}
	}
	if _, isCall := msg["method"]; isCall {
		return [][]byte{frame}
	}
	msg["jsonrpc"] = "1.0"
	b, err := json.Marshal(msg)
	if err != nil {
		return [][]byte{frame}
	}
	return [][]byte{b}
}

// holdStreamChunks returns a v2 frame rewrite that holds the runtime's
// streamChunk notifications back until the next response, and sends them
// just before it: the chunks are not streamed (protocol.md §5.2).
func holdStreamChunks() func([]byte) [][]byte {
	var mu sync.Mutex // guards held
	var held [][]byte
	return func(frame []byte) [][]byte {
		var msg struct {
			Method *string `json:"method"`
		}
		if err := json.Unmarshal(frame, &msg); err != nil {
			return [][]byte{frame}
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case msg.Method != nil && *msg.Method == "streamChunk":
			held = append(held, frame)
			return nil
		case msg.Method == nil:
			out := append(held, frame)
			held = nil
			return out
		}
		return [][]byte{frame}
	}
}

// nullMetadataValue gives every descriptor of GET /api/actions a null
// metadata value, which no case's pattern looks at and the CLI's
// ActionSchema (metadata values are CustomAny) does not allow: only the
// schemas of spec/ catch it.
func nullMetadataValue(next http.Handler) http.Handler {
	return rewrite(func(r *http.Request) bool { return r.URL.Path == "/api/actions" }, nil,
		func(line []byte, final bool) []byte {
			var listing map[string]map[string]any
			if !final || json.Unmarshal(line, &listing) != nil {
				return line
			}
			for _, d := range listing {
				md, _ := d["metadata"].(map[string]any)
				if md == nil {
					md = map[string]any{}
				}
				md["conformance.null"] = nil
				d["metadata"] = md
			}
			out, err := json.Marshal(listing)
			if err != nil {
				panic(err)
			}
			return out
		})(next)
}

// healthPIDPortOnly compares the id of a health check with <pid>-<port>
// only, and answers 503 to any other, the advertised GENKIT_RUNTIME_ID
// included, as JS and the Go SDK do (protocol.md §1.2, §8.9).
func healthPIDPortOnly(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/api/__health" {
			_, port, _ := net.SplitHostPort(r.Host)
			if id := r.URL.Query().Get("id"); id != "" && id != fmt.Sprintf("%d-%s", os.Getpid(), port) {
				http.Error(w, "Invalid runtime ID", http.StatusServiceUnavailable)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// runOutlivesClient runs actions on a context the client's going away
// does not cancel, as JS does (protocol.md §1.4, §8.8); cancelAction
// still cancels them.
func runOutlivesClient(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if isRun(r) {
			r = r.WithContext(context.WithoutCancel(r.Context()))
		}
		next.ServeHTTP(w, r)
	})
}

// streamParamServerError answers 500 to a run whose ?stream is neither
// true nor false, as the Go SDK does (protocol.md §8.33).
func streamParamServerError(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if v := r.URL.Query().Get("stream"); isRun(r) && r.URL.Query().Has("stream") && v != "true" && v != "false" {
			http.Error(w, "strconv.ParseBool: parsing "+strconv.Quote(v)+": invalid syntax", http.StatusInternalServerError)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// spacedErrorJSON writes the final {"error": ...} object of unstreamed
// runs the way the Go SDK formats it by hand, {"error": <Status> }
// (protocol.md §8.7).
var spacedErrorJSON = rewrite(func(r *http.Request) bool { return isRun(r) && !isStreamedRun(r) }, nil,
	func(line []byte, final bool) []byte {
		rest, ok := bytes.CutPrefix(line, []byte(`{"error":`))
		if !final || !ok {
			return line
		}
		return append(append([]byte(`{"error": `), bytes.TrimSuffix(rest, []byte("}"))...), []byte(" }")...)
	})

// emptyTraceFields changes the runtime's trace exports on their way to
// the sink as the Go SDK sends them (protocol.md §8.20): a batch holding
// the root and other spans is split in two, the other spans first, and
// every batch without the root carries displayName "", startTime 0 and
// endTime 0.
func emptyTraceFields(sink http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost || !strings.HasSuffix(r.URL.Path, "/api/traces") {
			sink.ServeHTTP(w, r)
			return
		}
		body, err := io.ReadAll(r.Body)
		var doc map[string]any
		if err != nil || json.Unmarshal(body, &doc) != nil {
			r.Body = io.NopCloser(bytes.NewReader(body))
			sink.ServeHTTP(w, r)
			return
		}
		spans, _ := doc["spans"].(map[string]any)
		root, others := map[string]any{}, map[string]any{}
		for id, sp := range spans {
			if m, _ := sp.(map[string]any); m != nil && m["parentSpanId"] == nil {
				root[id] = sp
			} else {
				others[id] = sp
			}
		}
		post := func(w http.ResponseWriter, d map[string]any) {
			b, _ := json.Marshal(d)
			req := r.Clone(r.Context())
			req.Body = io.NopCloser(bytes.NewReader(b))
			req.ContentLength = int64(len(b))
			sink.ServeHTTP(w, req)
		}
		if len(others) > 0 {
			child := maps.Clone(doc)
			child["spans"] = others
			child["displayName"], child["startTime"], child["endTime"] = "", 0, 0
			if len(root) == 0 {
				post(w, child)
				return
			}
			post(httptest.NewRecorder(), child)
		}
		doc["spans"] = root
		post(w, doc)
	})
}

// noRealtime drops GENKIT_ENABLE_REALTIME_TELEMETRY from the environment
// of launched runtimes: they export spans only when they end, as the Go
// SDK does (protocol.md §8.22).
func noRealtime(env map[string]string) { delete(env, "GENKIT_ENABLE_REALTIME_TELEMETRY") }

// registerAsPID registers every v2 runtime under its process id, whatever
// GENKIT_RUNTIME_ID says (protocol.md §8.30).
func registerAsPID(frame []byte) [][]byte {
	var msg map[string]any
	if err := json.Unmarshal(frame, &msg); err != nil || msg["method"] != "register" {
		return [][]byte{frame}
	}
	if p, ok := msg["params"].(map[string]any); ok {
		p["id"] = strconv.Itoa(os.Getpid())
	}
	b, err := json.Marshal(msg)
	if err != nil {
		return [][]byte{frame}
	}
	return [][]byte{b}
}
