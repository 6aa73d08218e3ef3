package tracestore

import (
	"cmp"
	"container/list"
	"context"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// Default bounds of a [Store].
const (
	// DefaultMaxTraces is the number of traces a Store keeps by default,
	// the same as the telemetry server's index (MAX_TRACES).
	DefaultMaxTraces = 1000
	// DefaultMaxBytes is the approximate span memory a Store keeps by
	// default: 64 MiB.
	DefaultMaxBytes = 64 << 20
	// DefaultSubscriberBuffer is the default event buffer of a
	// [Subscription].
	DefaultSubscriberBuffer = 1024
)

// devRunActionWrapper is the genkit:name of the wrapper span the telemetry
// server drops when it is the only span left in a batch.
const devRunActionWrapper = "dev-run-action-wrapper"

// ErrClosed is returned by [Store.Ingest] after [Store.Shutdown], and is the
// [Subscription.Err] of subscriptions the shutdown ended.
var ErrClosed = errors.New("tracestore: store is shut down")

// DefaultDropSpans returns the span filter the telemetry server applies by
// default: prompt-rendering spans (genkit:metadata:subtype "prompt") are not
// stored.
func DefaultDropSpans() map[string]string {
	return map[string]string{"genkit:metadata:subtype": "prompt"}
}

// Options configures a [Store]. The zero value (or a nil *Options) gives the
// defaults.
type Options struct {
	// MaxTraces bounds the number of traces kept. If zero or negative,
	// DefaultMaxTraces.
	MaxTraces int
	// MaxBytes bounds the approximate memory held by spans (see
	// [Stats.Bytes] for the estimate). If zero or negative,
	// DefaultMaxBytes.
	MaxBytes int64
	// SubscriberBuffer is the number of events a [Subscription] may have
	// pending before it counts as a slow consumer. If zero or negative,
	// DefaultSubscriberBuffer.
	SubscriberBuffer int
	// DropSpans lists attribute values that keep a span out of the store:
	// a span is dropped when any attribute named by a key equals its string
	// value. If nil, DefaultDropSpans(); an empty non-nil map drops nothing.
	DropSpans map[string]string
	// MaxTracesName and MaxBytesName say how a user sets MaxTraces and
	// MaxBytes, such as the command-line flags that set them. The store
	// names them when it logs that it has started evicting traces. If
	// empty, "MaxTraces" and "MaxBytes".
	MaxTracesName, MaxBytesName string
	// Logger receives, at info, the first eviction for each bound, which
	// says the bound that was hit and how to raise it; each eviction at
	// debug (they are counted in [Stats.EvictedTraces]); and dropped
	// subscribers (warn). If nil, nothing is logged.
	Logger *slog.Logger
}

// Stats are counters describing a [Store].
type Stats struct {
	// Traces is the number of traces held.
	Traces int
	// Spans is the number of spans held.
	Spans int
	// Bytes approximates the memory held by the spans and traces. Each
	// span counts a fixed 512 bytes plus the length of its ids, name and
	// status message, 48 bytes plus the key length per attribute, string
	// values at their length plus 16, other scalars at 16, and events and
	// links at 128 bytes plus their own attributes. Each trace adds 256
	// bytes. It is a cheap estimate, not the allocator's exact figure.
	Bytes int64
	// EvictedTraces counts traces removed to respect the bounds.
	EvictedTraces uint64
	// Subscribers is the number of active subscriptions.
	Subscribers int
	// DroppedSubscribers counts subscriptions ended as slow consumers.
	DroppedSubscribers uint64
}

// Store is an in-memory trace store with the semantics of the Genkit
// telemetry server's file store: it merges spans by id, indexes traces by
// their root span, lists them newest first and broadcasts span events to
// subscribers.
//
// A Store is an [sdktrace.SpanProcessor]: registered on a TracerProvider it
// records every span when it starts (EndTime 0) and again when it ends. It
// also accepts Genkit TraceData posted by other processes ([Store.Ingest],
// and POST /api/traces of [NewHandler]).
//
// The store holds at most MaxTraces traces and about MaxBytes of spans.
// When a write exceeds either bound, whole traces are evicted, the trace
// seen first going first. The trace being written is evicted last, and only
// when it alone exceeds MaxBytes.
//
// All methods are safe for concurrent use. Reads return deep copies.
type Store struct {
	maxTraces int
	maxBytes  int64
	subBuf    int
	drop      map[string]string
	log       *slog.Logger
	// maxTracesName and maxBytesName name the bounds in the eviction message.
	maxTracesName, maxBytesName string

	mu sync.Mutex // guards every field below
	// traces holds every stored trace by id.
	traces map[string]*storedTrace
	// age lists the traces by first-seen time, oldest at the front.
	age *list.List
	// indexed holds the traces that have an index entry; it may hold
	// evicted traces and be unsorted while indexDirty is set.
	indexed    []*storedTrace
	indexDirty bool
	// indexEvicted counts the evicted traces indexed still holds; they
	// are dropped from it once they outnumber the stored traces.
	indexEvicted int
	indexSeq     uint64
	bytes        int64
	spans        int
	evicted      uint64
	// evictedFor are the bounds ("max traces", "max bytes") for which the
	// first eviction has been logged at info.
	evictedFor map[string]bool
	subs       map[string]map[*Subscription]struct{}
	nsubs      int
	dropped    uint64
	closed     bool
	// running holds spans started while nobody subscribed, not yet
	// recorded: each is recorded as running when the store is next read,
	// or replaced by its end (see OnStart).
	running map[trace.SpanID]sdktrace.ReadWriteSpan
}

// maxRunning bounds Store.running; beyond it starts are recorded at once.
const maxRunning = 4096

// storedTrace is one trace inside the store. Its fields are guarded by
// Store.mu.
type storedTrace struct {
	id          string
	displayName *string
	startTime   *float64
	endTime     *float64
	spans       map[string]*storedSpan
	// order holds span ids in first-insertion order, which decides which
	// root span counts when a trace has several.
	order   []string
	bytes   int64
	ageElem *list.Element
	// idx is the index entry, set once a batch with a root span was saved.
	idx     *indexEntry
	idxSeq  uint64
	evicted bool
}

type storedSpan struct {
	data SpanData
	size int64
}

var _ sdktrace.SpanProcessor = (*Store)(nil)

// New returns an empty Store configured by opts, which may be nil.
func New(opts *Options) *Store {
	var o Options
	if opts != nil {
		o = *opts
	}
	s := &Store{
		maxTraces: o.MaxTraces,
		maxBytes:  o.MaxBytes,

		maxTracesName: cmp.Or(o.MaxTracesName, "MaxTraces"),
		maxBytesName:  cmp.Or(o.MaxBytesName, "MaxBytes"),
		evictedFor:    map[string]bool{},
		subBuf:        o.SubscriberBuffer,
		drop:          o.DropSpans,
		log:           o.Logger,
		traces:        make(map[string]*storedTrace),
		age:           list.New(),
		subs:          make(map[string]map[*Subscription]struct{}),
		running:       make(map[trace.SpanID]sdktrace.ReadWriteSpan),
	}
	if s.maxTraces <= 0 {
		s.maxTraces = DefaultMaxTraces
	}
	if s.maxBytes <= 0 {
		s.maxBytes = DefaultMaxBytes
	}
	if s.subBuf <= 0 {
		s.subBuf = DefaultSubscriberBuffer
	}
	if s.drop == nil {
		s.drop = DefaultDropSpans()
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	return s
}

// OnStart records s as a running span (EndTime 0). It implements
// [sdktrace.SpanProcessor].
//
// While the store has no subscribers, the start is not converted at once:
// the span is kept aside and recorded, as it is then, when the store is
// next read (Get, List, Subscribe, Stats), unless it ends first. Readers
// see the same running span either way, and a span that ends unread is
// converted and merged once instead of twice.
func (s *Store) OnStart(_ context.Context, span sdktrace.ReadWriteSpan) {
	s.mu.Lock()
	if s.nsubs == 0 && !s.closed && len(s.running) < maxRunning {
		s.running[span.SpanContext().SpanID()] = span
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	s.record(FromSpan(span))
}

// OnEnd records the finished span. It implements [sdktrace.SpanProcessor].
func (s *Store) OnEnd(span sdktrace.ReadOnlySpan) {
	s.recordEnd(FromSpan(span), span.SpanContext().SpanID())
}

// materializeLocked records the running spans kept aside by OnStart.
// s.mu is held.
func (s *Store) materializeLocked() {
	for id, span := range s.running {
		delete(s.running, id)
		if !s.closed {
			td, one := recordBatch(FromSpan(span))
			s.mergeLocked(td, s.keep(one[:]))
		}
	}
}

// record saves one converted span as an export batch of its own, with the
// trace-level fields taken from it when it is a root span. It merges the
// span directly, without building the batch's span map.
func (s *Store) record(sd SpanData) {
	s.recordEnd(sd, trace.SpanID{})
}

// recordEnd is record for a span that may have been kept aside by
// OnStart under the ID ended: it is no longer running.
func (s *Store) recordEnd(sd SpanData, ended trace.SpanID) {
	td, one := recordBatch(sd)
	incoming := s.keep(one[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	if ended.IsValid() {
		delete(s.running, ended)
	}
	// The only possible error is ErrClosed: spans after Shutdown are
	// ignored, as the SpanProcessor contract asks.
	_ = s.mergeLocked(td, incoming)
}

// recordBatch returns the batch record saves for sd: its trace-level
// fields and its single span.
func recordBatch(sd SpanData) (TraceData, [1]incomingSpan) {
	td := TraceData{TraceID: sd.TraceID}
	if sd.ParentSpanID == "" {
		name, start, end := sd.DisplayName, sd.StartTime, sd.EndTime
		td.DisplayName, td.StartTime, td.EndTime = &name, &start, &end
	}
	return td, [1]incomingSpan{{id: sd.SpanID, data: sd}}
}

// ForceFlush returns ctx.Err(): the store records spans synchronously and
// has nothing to flush. It implements [sdktrace.SpanProcessor].
func (s *Store) ForceFlush(ctx context.Context) error {
	return ctx.Err()
}

// Shutdown stops recording and ingesting and ends every subscription with
// [ErrClosed]. Stored traces stay readable. It does not block, is
// idempotent, and returns ctx.Err(). It implements [sdktrace.SpanProcessor].
func (s *Store) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.materializeLocked()
	s.closed = true
	for id, set := range s.subs {
		for sub := range set {
			s.endSubLocked(sub, ErrClosed)
		}
		delete(s.subs, id)
	}
	s.mu.Unlock()
	return ctx.Err()
}

// Ingest merges td into the store like the telemetry server's POST
// /api/traces:
//
//   - spans whose attributes match the DropSpans filter are dropped, and so
//     is a lone "dev-run-action-wrapper" span; if nothing is left, spans
//     whose parent is not stored become roots;
//   - spans replace stored spans with the same id, except that a finished
//     span is never replaced by a running one (EndTime 0);
//   - the trace-level DisplayName, StartTime and EndTime are replaced only
//     when set in td;
//   - when td holds a root span (no ParentSpanID) the trace is (re)indexed
//     for [Store.List];
//   - subscribers of the trace receive span_start for each span (unless it
//     is a stale start of a span already finished) and span_end for each
//     finished span, in time order.
//
// Ingest copies td; the caller keeps ownership. It fails for an empty trace
// id, or with ErrClosed after Shutdown.
func (s *Store) Ingest(td TraceData) error {
	return s.ingestOwned(td.Clone())
}

// ingestOwned is Ingest for a td the store may keep as it is.
func (s *Store) ingestOwned(td TraceData) error {
	if td.TraceID == "" {
		return errors.New("tracestore: trace id is empty")
	}
	return s.save(td)
}

// save merges td, which the store now owns.
func (s *Store) save(td TraceData) error {
	return s.merge(td, s.filter(td.Spans))
}

// merge merges the kept spans of a batch, and its trace-level fields.
func (s *Store) merge(td TraceData, incoming []incomingSpan) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.mergeLocked(td, incoming)
}

// mergeLocked is merge with s.mu held.
func (s *Store) mergeLocked(td TraceData, incoming []incomingSpan) error {
	if s.closed {
		return ErrClosed
	}
	t := s.traces[td.TraceID]
	if t == nil {
		t = &storedTrace{id: td.TraceID, spans: make(map[string]*storedSpan), bytes: traceOverhead}
		t.ageElem = s.age.PushBack(t)
		s.traces[t.id] = t
		s.bytes += t.bytes
	}
	hasRoot := false
	for _, in := range incoming {
		if in.data.ParentSpanID == "" {
			hasRoot = true
		}
		old := t.spans[in.id]
		if old != nil && old.data.EndTime != 0 && in.data.EndTime == 0 {
			continue // a stale start arriving after the end
		}
		if old == nil {
			t.order = append(t.order, in.id)
			s.spans++
		} else {
			t.bytes -= old.size
			s.bytes -= old.size
		}
		sp := &storedSpan{data: in.data, size: spanSize(&in.data)}
		t.spans[in.id] = sp
		t.bytes += sp.size
		s.bytes += sp.size
	}
	if len(incoming) == 0 {
		// Everything was filtered: the server assumes the batch was an
		// internal root and promotes whatever referenced it.
		for _, sp := range t.spans {
			if p := sp.data.ParentSpanID; p != "" && t.spans[p] == nil {
				sp.data.ParentSpanID = ""
			}
		}
	}
	if td.DisplayName != nil {
		t.displayName = td.DisplayName
	}
	if td.StartTime != nil {
		t.startTime = td.StartTime
	}
	if td.EndTime != nil {
		t.endTime = td.EndTime
	}
	if hasRoot {
		if t.idx == nil {
			s.indexed = append(s.indexed, t)
		}
		t.idx = buildIndex(t)
		s.indexSeq++
		t.idxSeq = s.indexSeq
		s.indexDirty = true
	}
	s.broadcastLocked(t, incoming)
	s.evictLocked(t)
	return nil
}

type incomingSpan struct {
	id   string
	data SpanData
}

// filter applies the drop rules to a batch and returns the kept spans in a
// deterministic order (start time, then id).
func (s *Store) filter(spans map[string]SpanData) []incomingSpan {
	out := make([]incomingSpan, 0, len(spans))
	for id, sd := range spans {
		out = append(out, incomingSpan{id: id, data: sd})
	}
	out = s.keep(out)
	slices.SortFunc(out, func(a, b incomingSpan) int {
		return cmp.Or(cmp.Compare(a.data.StartTime, b.data.StartTime), strings.Compare(a.id, b.id))
	})
	return out
}

// keep applies the drop rules to a batch in place and returns the kept
// spans.
func (s *Store) keep(in []incomingSpan) []incomingSpan {
	out := in[:0]
	for _, sp := range in {
		if s.dropSpan(&sp.data) {
			continue
		}
		if sp.data.Attributes == nil {
			sp.data.Attributes = map[string]any{}
		}
		out = append(out, sp)
	}
	if len(out) == 1 && out[0].data.Attributes["genkit:name"] == devRunActionWrapper {
		out = out[:0]
	}
	return out
}

func (s *Store) dropSpan(sd *SpanData) bool {
	for k, v := range s.drop {
		if a, ok := sd.Attributes[k].(string); ok && a == v {
			return true
		}
	}
	return false
}

// evictLocked removes the oldest traces until the store is within its
// bounds. cur, the trace just written, goes last.
func (s *Store) evictLocked(cur *storedTrace) {
	for len(s.traces) > s.maxTraces || s.bytes > s.maxBytes {
		e := s.age.Front()
		if e.Value.(*storedTrace) == cur {
			e = e.Next()
		}
		if e == nil {
			if s.bytes <= s.maxBytes {
				return
			}
			e = cur.ageElem
		}
		t := e.Value.(*storedTrace)
		reason := "max traces"
		if len(s.traces) <= s.maxTraces {
			reason = "max bytes"
		}
		s.removeLocked(t)
		s.evicted++
		if !s.evictedFor[reason] {
			s.evictedFor[reason] = true
			s.logFirstEviction(reason)
		}
		s.log.Debug("tracestore: trace evicted", "traceId", t.id, "spans", len(t.spans), "reason", reason)
	}
}

// logFirstEviction says, once per bound, that the store has started
// evicting its oldest traces, which bound was hit and how to raise it:
// otherwise a user whose Developer UI loses old traces cannot tell why.
// Later evictions are counted (Stats.EvictedTraces) and logged at debug.
func (s *Store) logFirstEviction(reason string) {
	if reason == "max traces" {
		s.log.Info("tracestore: the trace store is full; evicting the oldest traces from now on",
			"bound", reason, "maxTraces", s.maxTraces, "raiseWith", s.maxTracesName)
		return
	}
	s.log.Info("tracestore: the trace store is full; evicting the oldest traces from now on",
		"bound", reason, "maxBytes", s.maxBytes, "raiseWith", s.maxBytesName)
}

func (s *Store) removeLocked(t *storedTrace) {
	s.age.Remove(t.ageElem)
	delete(s.traces, t.id)
	s.bytes -= t.bytes
	s.spans -= len(t.spans)
	t.evicted = true
	if t.idx != nil {
		s.indexDirty = true
		s.indexEvicted++
		if s.indexEvicted > len(s.traces)+64 {
			// Release the evicted traces: without a List call nothing
			// else would, and their spans would stay reachable.
			s.indexed = slices.DeleteFunc(s.indexed, func(t *storedTrace) bool { return t.evicted })
			s.indexEvicted = 0
		}
	}
}

// Get returns a copy of the trace with the given id.
func (s *Store) Get(traceID string) (TraceData, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.materializeLocked()
	t := s.traces[traceID]
	if t == nil {
		return TraceData{}, false
	}
	return t.copyLocked(), true
}

// copyLocked returns a deep copy of t as TraceData.
func (t *storedTrace) copyLocked() TraceData {
	td := TraceData{
		TraceID:     t.id,
		DisplayName: clonePtr(t.displayName),
		StartTime:   clonePtr(t.startTime),
		EndTime:     clonePtr(t.endTime),
		Spans:       make(map[string]SpanData, len(t.spans)),
	}
	for id, sp := range t.spans {
		td.Spans[id] = sp.data.Clone()
	}
	return td
}

// Stats returns the store's current counters.
func (s *Store) Stats() Stats {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.materializeLocked()
	return Stats{
		Traces:             len(s.traces),
		Spans:              s.spans,
		Bytes:              s.bytes,
		EvictedTraces:      s.evicted,
		Subscribers:        s.nsubs,
		DroppedSubscribers: s.dropped,
	}
}

// Size estimate constants; see Stats.Bytes.
const (
	traceOverhead = 256
	spanOverhead  = 512
	attrOverhead  = 48
	valueOverhead = 16
	itemOverhead  = 128
)

func spanSize(sd *SpanData) int64 {
	n := int64(spanOverhead + len(sd.SpanID) + len(sd.TraceID) + len(sd.ParentSpanID) +
		len(sd.DisplayName) + len(sd.SpanKind) + len(sd.InstrumentationLibrary.Name))
	if sd.Status != nil {
		n += int64(len(sd.Status.Message))
	}
	n += attrsSize(sd.Attributes)
	for _, l := range sd.Links {
		n += itemOverhead + attrsSize(l.Attributes)
	}
	if sd.TimeEvents != nil {
		for _, e := range sd.TimeEvents.TimeEvent {
			n += itemOverhead + int64(len(e.Annotation.Description)) + attrsSize(e.Annotation.Attributes)
		}
	}
	return n
}

func attrsSize(m map[string]any) int64 {
	var n int64
	for k, v := range m {
		n += attrOverhead + int64(len(k)) + valueSize(v)
	}
	return n
}

func valueSize(v any) int64 {
	switch v := v.(type) {
	case string:
		return valueOverhead + int64(len(v))
	case []string:
		n := int64(valueOverhead)
		for _, e := range v {
			n += valueOverhead + int64(len(e))
		}
		return n
	case []any:
		n := int64(valueOverhead)
		for _, e := range v {
			n += valueSize(e)
		}
		return n
	case []bool:
		return valueOverhead + int64(len(v))
	case []int64:
		return valueOverhead + 8*int64(len(v))
	case []float64:
		return valueOverhead + 8*int64(len(v))
	case map[string]any:
		return valueOverhead + attrsSize(v)
	default:
		return valueOverhead
	}
}
