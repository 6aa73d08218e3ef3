package tracestore

import (
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"sync"
	"time"

	"github.com/genkit-runtime/genkit-runtime/internal/jsontext"
	"github.com/genkit-runtime/genkit-runtime/status"
)

// Handler defaults.
const (
	// DefaultMaxBodyBytes bounds a POST /api/traces body, like the
	// telemetry server's '100mb' JSON limit.
	DefaultMaxBodyBytes = 100 << 20
	// DefaultStreamWriteTimeout bounds each write to a trace stream.
	DefaultStreamWriteTimeout = 30 * time.Second
)

// Content types the telemetry server (Express) answers with.
const (
	contentTypeJSON = "application/json; charset=utf-8"
	contentTypeText = "text/html; charset=utf-8"
	contentTypeSSE  = "text/event-stream"
)

// HandlerOptions configures [NewHandler]. A nil *HandlerOptions gives the
// defaults.
type HandlerOptions struct {
	// MaxBodyBytes bounds the body of POST /api/traces. If zero or
	// negative, DefaultMaxBodyBytes.
	MaxBodyBytes int64
	// StreamWriteTimeout bounds each write of a trace stream; a client
	// that does not read for this long is cut off. If zero or negative,
	// DefaultStreamWriteTimeout.
	StreamWriteTimeout time.Duration
	// Logger receives request errors. If nil, nothing is logged.
	Logger *slog.Logger
}

// Handler serves a [Store] over the telemetry server's trace API:
//
//	GET  /api/traces?limit=&continuationToken=&filter=  → ListResult
//	GET  /api/traces/{traceId}                          → TraceData, or an empty 200 body if unknown
//	GET  /api/traces/{traceId}/stream                   → Server-Sent Events
//	POST /api/traces                                    → ingest one TraceData; 200 "OK"
//
// Paths also match with a trailing slash, as in Express. filter is the
// JSON of a [Filter] (the CLI URI-encodes it). Invalid input gets a Status
// body {code, message, details} with HTTP 400 and code 3
// (INVALID_ARGUMENT); a body over the limit gets 413 and code 8.
//
// The stream first sends the trace as it is (if it exists) as
// "data: <TraceData>\n\n", then one "data: <Event>\n\n" per span event,
// flushing each. It ends when the client goes away, the subscription is
// dropped as a slow consumer, the store shuts down or the handler is
// closed.
//
// The handler does not add CORS or other middleware; wrap it for those.
type Handler struct {
	store        *Store
	maxBody      int64
	writeTimeout time.Duration
	log          *slog.Logger
	mux          *http.ServeMux

	done      chan struct{} // closed by Close
	closeOnce sync.Once
}

// NewHandler returns a Handler serving store. opts may be nil.
func NewHandler(store *Store, opts *HandlerOptions) *Handler {
	var o HandlerOptions
	if opts != nil {
		o = *opts
	}
	h := &Handler{
		store:        store,
		maxBody:      o.MaxBodyBytes,
		writeTimeout: o.StreamWriteTimeout,
		log:          o.Logger,
		mux:          http.NewServeMux(),
		done:         make(chan struct{}),
	}
	if h.maxBody <= 0 {
		h.maxBody = DefaultMaxBodyBytes
	}
	if h.writeTimeout <= 0 {
		h.writeTimeout = DefaultStreamWriteTimeout
	}
	if h.log == nil {
		h.log = slog.New(slog.DiscardHandler)
	}
	for _, p := range []string{"/api/traces", "/api/traces/{$}"} {
		h.mux.HandleFunc("GET "+p, h.list)
		h.mux.HandleFunc("POST "+p, h.ingest)
	}
	for _, p := range []string{"/api/traces/{traceId}", "/api/traces/{traceId}/{$}"} {
		h.mux.HandleFunc("GET "+p, h.get)
	}
	for _, p := range []string{"/api/traces/{traceId}/stream", "/api/traces/{traceId}/stream/{$}"} {
		h.mux.HandleFunc("GET "+p, h.stream)
	}
	return h
}

// ServeHTTP implements [http.Handler].
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.mux.ServeHTTP(w, r)
}

// Close ends every open trace stream; streams opened later end right after
// their snapshot. Other routes keep working. Close is idempotent.
func (h *Handler) Close() {
	h.closeOnce.Do(func() { close(h.done) })
}

func (h *Handler) list(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	var query Query
	if n, ok := jsParseInt(q.Get("limit")); ok {
		query.Limit = n
	}
	query.ContinuationToken = q.Get("continuationToken")
	if f := q.Get("filter"); f != "" {
		filter, err := ParseFilter([]byte(f))
		if err != nil {
			h.writeError(w, http.StatusBadRequest, status.Errorf(status.InvalidArgument, "%v", err))
			return
		}
		query.Filter = filter
	}
	h.writeJSON(w, h.store.List(query))
}

func (h *Handler) get(w http.ResponseWriter, r *http.Request) {
	td, ok := h.store.Get(r.PathValue("traceId"))
	if !ok {
		// The telemetry server answers res.json(undefined): 200, no body.
		w.Header().Set("Content-Type", contentTypeJSON)
		w.WriteHeader(http.StatusOK)
		return
	}
	h.writeJSON(w, td)
}

func (h *Handler) ingest(w http.ResponseWriter, r *http.Request) {
	if mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		h.writeError(w, http.StatusBadRequest, status.Errorf(status.InvalidArgument, "Content-Type must be application/json"))
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, h.maxBody))
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			h.writeError(w, http.StatusRequestEntityTooLarge,
				status.Errorf(status.ResourceExhausted, "request body larger than %d bytes", h.maxBody))
			return
		}
		h.writeError(w, http.StatusBadRequest, status.Errorf(status.InvalidArgument, "reading body: %v", err))
		return
	}
	td, err := DecodeTraceData(body)
	if err != nil {
		h.writeError(w, http.StatusBadRequest, status.Errorf(status.InvalidArgument, "%v", err))
		return
	}
	if err := h.store.Ingest(td); err != nil {
		code, httpStatus := status.InvalidArgument, http.StatusBadRequest
		if errors.Is(err, ErrClosed) {
			code, httpStatus = status.Unavailable, http.StatusServiceUnavailable
		}
		h.writeError(w, httpStatus, status.Errorf(code, "%v", err))
		return
	}
	w.Header().Set("Content-Type", contentTypeText)
	w.WriteHeader(http.StatusOK)
	if _, err := io.WriteString(w, "OK"); err != nil {
		h.log.Debug("tracestore: writing response", "err", err)
	}
}

func (h *Handler) stream(w http.ResponseWriter, r *http.Request) {
	traceID := r.PathValue("traceId")
	rc := http.NewResponseController(w)
	hdr := w.Header()
	hdr.Set("Content-Type", contentTypeSSE)
	hdr.Set("Cache-Control", "no-cache")
	hdr.Set("Connection", "keep-alive")
	hdr.Set("Access-Control-Allow-Origin", "*")
	hdr.Set("Access-Control-Allow-Headers", "Content-Type")
	// Subscribe before the headers go out, so a client that has the
	// headers misses nothing.
	sub := h.store.Subscribe(traceID)
	defer sub.Close()
	if err := rc.Flush(); errors.Is(err, http.ErrNotSupported) {
		hdr.Del("Connection")
		h.writeError(w, http.StatusInternalServerError, status.Errorf(status.Internal, "streaming is not supported by this server"))
		return
	}
	// Per-write deadlines; cleared so a kept-alive connection is not
	// affected afterwards. Writers without deadlines ignore both calls.
	defer func() { _ = rc.SetWriteDeadline(time.Time{}) }()

	send := func(v any) bool {
		b, err := jsontext.Marshal(v)
		if err != nil {
			h.log.Error("tracestore: encoding stream message", "traceId", traceID, "err", err)
			return false
		}
		_ = rc.SetWriteDeadline(time.Now().Add(h.writeTimeout)) // ErrNotSupported is fine
		msg := make([]byte, 0, len(b)+8)
		msg = append(append(append(msg, "data: "...), b...), "\n\n"...)
		if _, err := w.Write(msg); err != nil {
			return false
		}
		return rc.Flush() == nil
	}
	if td, ok := sub.Snapshot(); ok && !send(td) {
		return
	}
	for {
		select {
		case <-r.Context().Done():
			return
		case <-h.done:
			return
		case ev, ok := <-sub.Events():
			if !ok {
				return
			}
			if !send(ev) {
				return
			}
		}
	}
}

func (h *Handler) writeJSON(w http.ResponseWriter, v any) {
	b, err := jsontext.Marshal(v)
	if err != nil {
		h.writeError(w, http.StatusInternalServerError, status.Errorf(status.Internal, "encoding response: %v", err))
		return
	}
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(http.StatusOK)
	if _, err := w.Write(b); err != nil {
		h.log.Debug("tracestore: writing response", "err", err)
	}
}

// writeError writes err as a wire Status with the given HTTP status.
func (h *Handler) writeError(w http.ResponseWriter, httpStatus int, err error) {
	st := status.FromError(err)
	b, merr := jsontext.Marshal(st)
	if merr != nil {
		http.Error(w, st.Message, httpStatus)
		return
	}
	h.log.Debug("tracestore: request failed", "status", httpStatus, "err", err)
	w.Header().Set("Content-Type", contentTypeJSON)
	w.WriteHeader(httpStatus)
	if _, err := w.Write(b); err != nil {
		h.log.Debug("tracestore: writing response", "err", err)
	}
}
