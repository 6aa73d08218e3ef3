// Package reflection serves the Genkit Reflection API over a registry: the
// protocol between a Genkit runtime and the Genkit CLI and Developer UI.
//
// [NewHandler] returns the v1 HTTP API as an http.Handler. It has no process
// side effects: it never listens, reads the environment or writes files, so
// an application can mount it in its own server over its own registry.
// Cross-cutting concerns (Host and Origin checks, CORS, logging) are
// middleware composed around it by the caller.
//
// Both the v1 handler and the v2 WebSocket client run actions through one
// run core (core.go), so key resolution, input validation, tracing,
// cancellation and error mapping behave the same on both; both decode a run
// request with the same decoder (decode.go), and answer from the same
// outcome type.
//
// The v2 client's side of a connection is four types, each in its own
// file: session (v2_session.go: one connection's life), dispatcher
// (v2_dispatch.go: the manager's requests and the connection's work),
// inputStreams (v2_input.go: the input streams of its runs) and v2Run
// (v2_run.go: one run over the core), over the WebSocket JSON-RPC object
// stream of package internal/wsrpc, which the test manager in v2manager
// shares.
package reflection

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"sync/atomic"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/trace"

	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

// SpecVersion is the Reflection API spec version this package implements.
const SpecVersion = 1

// DefaultMaxBodyBytes is the default limit on a request body, the JS
// runtime's.
const DefaultMaxBodyBytes = 30 << 20

// Wire header names and content types, matching the JS runtime
// (js/core/src/reflection.ts).
const (
	HeaderTraceID = "X-Genkit-Trace-Id"
	HeaderSpanID  = "X-Genkit-Span-Id"
	HeaderVersion = "X-Genkit-Version"

	contentTypeJSON   = "application/json"
	contentTypeStream = "text/plain" // the JS runtime streams NDJSON as text/plain
)

// Options configures a Handler. The zero value serves a registry with
// tracing off; most callers set TracerProvider and RuntimeIDs.
type Options struct {
	// TracerProvider makes the spans of runs. If nil, the global provider
	// of the otel package is used.
	TracerProvider trace.TracerProvider
	// Flusher, if not nil, is asked to deliver a run's trace before the
	// run's result is written, waiting at most FlushTimeout.
	Flusher TraceFlusher
	// FlushTimeout bounds Flusher; if zero, 2 seconds.
	FlushTimeout time.Duration
	// Version is sent as X-Genkit-Version on every response.
	Version string
	// RuntimeIDs are the IDs /api/__health?id= accepts (see also
	// [Handler.SetRuntimeIDs]). If empty, any id is
	// accepted.
	RuntimeIDs []string
	// MaxBodyBytes limits request bodies; if zero, DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// Envs is the answer of /api/envs; if nil, ["dev"].
	Envs []string
	// OnNotify, if not nil, receives the body of each /api/notify, which
	// is how the CLI tells a runtime where its telemetry server is.
	OnNotify func(Notification)
	// OnQuit, if not nil, is called once the answer to
	// /api/__quitquitquit has been flushed, from the request's handler. It
	// must not wait for the server to shut down (the request is still
	// active); signal another goroutine instead.
	OnQuit func()
	// Logger receives diagnostics. If nil, nothing is logged.
	Logger *slog.Logger
}

// Notification is the body of POST /api/notify.
type Notification struct {
	TelemetryServerURL string `json:"telemetryServerUrl,omitempty"`
	// ReflectionAPISpecVersion is the CLI's spec version (1). It is any
	// JSON number, as spec/schemas/rules/NotifyRequest.json says: a
	// version the runtime does not speak is logged, never refused.
	ReflectionAPISpecVersion float64 `json:"reflectionApiSpecVersion,omitempty"`
}

// Handler serves the v1 Reflection API. Create it with NewHandler.
type Handler struct {
	core   *core
	lister *lister
	opts   Options
	mux    *http.ServeMux
	// runtimeIDs are the IDs health checks accept: opts.RuntimeIDs, or
	// what SetRuntimeIDs set.
	runtimeIDs atomic.Pointer[[]string]
}

var _ http.Handler = (*Handler)(nil)

// NewHandler returns a handler serving the v1 Reflection API over reg.
// opts may be nil.
func NewHandler(reg *registry.Registry, opts *Options) *Handler {
	h := &Handler{}
	if opts != nil {
		h.opts = *opts
	}
	o := &h.opts
	if o.TracerProvider == nil {
		o.TracerProvider = otelTracerProvider()
	}
	if o.FlushTimeout == 0 {
		o.FlushTimeout = 2 * time.Second
	}
	if o.MaxBodyBytes == 0 {
		o.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if o.Envs == nil {
		o.Envs = []string{"dev"}
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	h.core = newCore(reg, o.TracerProvider, o.Flusher, o.FlushTimeout, o.Logger)
	h.lister = &lister{reg: reg}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/__health", h.health)
	mux.HandleFunc("GET /api/__quitquitquit", h.quit)
	mux.HandleFunc("GET /api/actions", h.actions)
	mux.HandleFunc("POST /api/runAction", h.runAction)
	mux.HandleFunc("POST /api/cancelAction", h.cancelAction)
	mux.HandleFunc("POST /api/notify", h.notify)
	mux.HandleFunc("GET /api/values", h.values)
	mux.HandleFunc("GET /api/envs", h.envs)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		h.writeStatus(w, r, http.StatusNotFound, status.Errorf(status.NotFound, "no route for %s %s", r.Method, r.URL.Path))
	})
	h.mux = mux
	h.SetRuntimeIDs(o.RuntimeIDs...)
	return h
}

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if h.opts.Version != "" {
		w.Header().Set(HeaderVersion, h.opts.Version)
	}
	h.mux.ServeHTTP(w, r)
}

// CancelAction cancels the active run with the given trace ID, as POST
// /api/cancelAction does. It reports whether such a run was active.
func (h *Handler) CancelAction(traceID string) bool { return h.core.cancel(traceID) }

// SetRuntimeIDs replaces the IDs /api/__health?id= accepts, for a runtime
// whose ID is known only once it listens (the default ID holds the port).
// It is safe to call while the handler serves.
func (h *Handler) SetRuntimeIDs(ids ...string) {
	ids = slices.Clone(ids)
	h.runtimeIDs.Store(&ids)
}

func (h *Handler) health(w http.ResponseWriter, r *http.Request) {
	if id, ids := r.URL.Query().Get("id"), *h.runtimeIDs.Load(); id != "" && len(ids) > 0 && !slices.Contains(ids, id) {
		http.Error(w, "Invalid runtime ID", http.StatusServiceUnavailable)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := io.WriteString(w, "OK")
	h.written(r, err)
}

func (h *Handler) quit(w http.ResponseWriter, r *http.Request) {
	// A sized body, flushed before OnQuit: the whole answer is on the wire
	// before the runtime starts to go, with no chunk terminator still to
	// write.
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Length", "2")
	io.WriteString(w, "OK")
	if h.opts.OnQuit != nil {
		http.NewResponseController(w).Flush()
		h.opts.OnQuit()
	}
}

func (h *Handler) envs(w http.ResponseWriter, r *http.Request) {
	h.writeJSON(w, r, http.StatusOK, h.opts.Envs)
}

func (h *Handler) actions(w http.ResponseWriter, r *http.Request) {
	b, err := h.lister.list(r.Context())
	if err != nil {
		h.writeStatus(w, r, http.StatusInternalServerError, err)
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	_, err = w.Write(b)
	h.written(r, err)
}

// supportedValueTypes are the value types GET /api/values serves.
var supportedValueTypes = []string{"defaultModel", "middleware"}

func (h *Handler) values(w http.ResponseWriter, r *http.Request) {
	typ := r.URL.Query().Get("type")
	if typ == "" {
		h.writeStatus(w, r, http.StatusBadRequest, status.Errorf(status.InvalidArgument, `Query parameter "type" is required.`))
		return
	}
	if !slices.Contains(supportedValueTypes, typ) {
		h.writeStatus(w, r, http.StatusBadRequest, status.Errorf(status.InvalidArgument,
			"'type' %s is not supported. Only 'defaultModel' and 'middleware' are supported", typ))
		return
	}
	h.writeJSON(w, r, http.StatusOK, h.core.reg.Values(typ))
}

func (h *Handler) notify(w http.ResponseWriter, r *http.Request) {
	var n Notification
	if err := h.decodeBody(w, r, &n); err != nil {
		h.writeStatus(w, r, httpStatusOf(err), err)
		return
	}
	if n.ReflectionAPISpecVersion != 0 && n.ReflectionAPISpecVersion != SpecVersion {
		h.opts.Logger.Warn("the Genkit CLI speaks another Reflection API version",
			"cli", n.ReflectionAPISpecVersion, "runtime", SpecVersion)
	}
	if h.opts.OnNotify != nil {
		h.opts.OnNotify(n)
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	_, err := io.WriteString(w, "OK")
	h.written(r, err)
}

type cancelRequest struct {
	TraceID *string `json:"traceId"`
}

func (h *Handler) cancelAction(w http.ResponseWriter, r *http.Request) {
	var req cancelRequest
	if err := h.decodeBody(w, r, &req); err != nil {
		h.writeStatus(w, r, httpStatusOf(err), err)
		return
	}
	if req.TraceID == nil || *req.TraceID == "" {
		h.writeStatus(w, r, http.StatusBadRequest, status.Errorf(status.InvalidArgument, "traceId is required"))
		return
	}
	if !h.core.cancel(*req.TraceID) {
		h.written(r, status.WriteHTTP(w, http.StatusNotFound, status.Status{Code: status.NotFound, Message: "Action not found or already completed"}))
		return
	}
	h.writeJSON(w, r, http.StatusOK, map[string]string{"message": "Action cancelled"})
}

// errTooLarge marks a body over the limit.
type errTooLarge struct{ limit int64 }

func (e *errTooLarge) Error() string { return "request body is larger than the limit" }

// decodeBody decodes a JSON request body into v, within the body limit.
// Its errors are *status.Error values whose code and HTTP status
// (httpStatusOf) say what was wrong.
func (h *Handler) decodeBody(w http.ResponseWriter, r *http.Request, v any) error {
	data, err := h.readBody(w, r)
	if err != nil {
		return err
	}
	if !utf8.Valid(data) {
		return errInvalidUTF8
	}
	if err := json.Unmarshal(data, v); err != nil {
		return status.Errorf(status.InvalidArgument, "malformed request body: %s", jsonErrorText(err))
	}
	// json.Unmarshal leaves v alone for a null body; every body of the API
	// is an object.
	if bytes.TrimLeft(data, " \t\r\n")[0] != '{' {
		return status.Errorf(status.InvalidArgument, "malformed request body: want a JSON object")
	}
	return nil
}

// readBody reads a request body of at most MaxBodyBytes that is not empty.
// A body whose length is announced is read into one buffer of
// that size.
func (h *Handler) readBody(w http.ResponseWriter, r *http.Request) ([]byte, error) {
	var data []byte
	var err error
	if n := r.ContentLength; n > 0 && n <= h.opts.MaxBodyBytes {
		data = make([]byte, n)
		_, err = io.ReadFull(r.Body, data)
	} else {
		data, err = io.ReadAll(http.MaxBytesReader(w, r.Body, h.opts.MaxBodyBytes))
	}
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return nil, &status.Error{Code: status.ResourceExhausted, Err: &errTooLarge{mbe.Limit},
				Message: "request body is larger than the limit of " + formatBytes(mbe.Limit)}
		}
		return nil, status.Errorf(status.InvalidArgument, "reading request body: %w", err)
	}
	if len(data) == 0 {
		return nil, status.Errorf(status.InvalidArgument, "request body is empty; want a JSON object")
	}
	return data, nil
}

// errInvalidUTF8 refuses a body that is not UTF-8: JSON text must be, and
// decoding would silently replace the bad bytes.
var errInvalidUTF8 = status.Errorf(status.InvalidArgument, "request body is not valid UTF-8")

// httpStatusOf returns the HTTP status for a request-level error.
func httpStatusOf(err error) int {
	var tl *errTooLarge
	if errors.As(err, &tl) {
		return http.StatusRequestEntityTooLarge
	}
	return status.CodeOf(err).HTTPStatus()
}

func (h *Handler) writeJSON(w http.ResponseWriter, r *http.Request, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		h.writeStatus(w, r, http.StatusInternalServerError, status.Errorf(status.Internal, "encoding response failed"))
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(code)
	_, err = w.Write(b)
	h.written(r, err)
}

// writeStatus answers with a non-2xx HTTP status and a bare Status body,
// the shape the CLI parses from a failed request ({code, message, details}).
func (h *Handler) writeStatus(w http.ResponseWriter, r *http.Request, code int, err error) {
	h.written(r, status.WriteHTTP(w, code, status.FromError(err)))
}

// written logs a response that could not be written, which happens when the
// client has gone away.
func (h *Handler) written(r *http.Request, err error) {
	if err != nil {
		h.opts.Logger.Debug("response not written", "method", r.Method, "path", r.URL.Path, "err", err)
	}
}
