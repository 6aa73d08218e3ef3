package tracestore

import (
	"cmp"
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"unsafe"

	"go.opentelemetry.io/otel/attribute"
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
	// Bytes approximates the heap held by the spans and traces. The store
	// keeps each span encoded in one string, in little more than its
	// strings' bytes (common Genkit attribute keys and values take a
	// byte, and a string repeated within a span is kept once). A span
	// counts the allocator's size for that string plus 50 bytes (98 in a
	// trace of more than 16 spans, which has a map by span id), a trace
	// 288 bytes plus its id. The figure is computed from what the store
	// allocates, not measured; it comes within a few percent of the heap
	// the store holds.
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
	// oldest and newest end the list of traces by first-seen time
	// (storedTrace.older, newer).
	oldest, newest *storedTrace
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
	id string
	// The trace-level fields; has says which are set (trace*).
	displayName        string
	startTime, endTime float64
	has                uint8
	evicted            bool
	// spans holds the spans in first-insertion order, which decides which
	// root span counts when a trace has several.
	spans []storedSpan
	// byID maps span ids to their index in spans, once the trace holds
	// more than linearSpans spans; smaller traces are searched in order.
	byID map[string]int
	// spanBytes is the estimated size of the spans, bytes that of the
	// whole trace.
	spanBytes, bytes int64
	// older and newer link the traces by first-seen time
	// (Store.oldest, Store.newest).
	older, newer *storedTrace
	// idx is the index entry, set (indexed) once a batch with a root span
	// was saved.
	idx     indexEntry
	indexed bool
	idxSeq  uint64
}

// Trace-level fields present in a storedTrace or a batch.
const (
	traceName = 1 << iota
	traceStart
	traceEnd
	// traceOwnName is set when the display name does not share the memory
	// of a span's.
	traceOwnName
)

// linearSpans is the size up to which a trace's spans are found by
// scanning them.
const linearSpans = 16

// find returns the index of the span keyed id, or -1.
func (t *storedTrace) find(id string) int {
	if t.byID != nil {
		if i, ok := t.byID[id]; ok {
			return i
		}
		return -1
	}
	for i := range t.spans {
		if t.spans[i].id() == id {
			return i
		}
	}
	return -1
}

// add appends sp, keyed id.
func (t *storedTrace) add(id string, sp storedSpan) {
	t.spans = append(t.spans, sp)
	switch {
	case t.byID != nil:
		t.byID[id] = len(t.spans) - 1
	case len(t.spans) > linearSpans:
		t.byID = make(map[string]int, 2*len(t.spans))
		for i := range t.spans {
			t.byID[t.spans[i].id()] = i
		}
	}
}

// replace replaces the span at index i, keyed id, with sp.
func (t *storedTrace) replace(i int, id string, sp storedSpan) {
	t.spans[i] = sp
	if t.byID != nil {
		// The key is a substring of the span's encoding: re-key so the
		// map does not keep the old one alive.
		delete(t.byID, id)
		t.byID[sp.id()] = i
	}
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
	s.recordSpan(span, false)
}

// OnEnd records the finished span. It implements [sdktrace.SpanProcessor].
func (s *Store) OnEnd(span sdktrace.ReadOnlySpan) {
	s.recordSpan(span, true)
}

// materializeLocked records the running spans kept aside by OnStart.
// s.mu is held.
func (s *Store) materializeLocked() {
	for id, span := range s.running {
		delete(s.running, id)
		f, in, n := s.recordBatch(span)
		s.recordLocked(span, f, in[:n])
	}
}

// recordSpan saves span, converted as by [FromSpan], as an export batch of
// its own, with the trace-level fields taken from it when it is a root
// span. It merges the span directly, without building the batch. With
// ended, the span is no longer running (see OnStart).
func (s *Store) recordSpan(span sdktrace.ReadOnlySpan, ended bool) {
	f, in, n := s.recordBatch(span)
	s.mu.Lock()
	defer s.mu.Unlock()
	if ended {
		delete(s.running, span.SpanContext().SpanID())
	}
	s.recordLocked(span, f, in[:n])
}

// recordLocked merges the batch recordBatch returned for span. s.mu is
// held.
func (s *Store) recordLocked(span sdktrace.ReadOnlySpan, f batchFields, incoming []storedSpan) {
	// After Shutdown spans are ignored, as the SpanProcessor contract
	// asks.
	if s.closed {
		return
	}
	var id [2 * len(trace.TraceID{})]byte
	tid := span.SpanContext().TraceID()
	hex.Encode(id[:], tid[:])
	t := s.traces[string(id[:])]
	if t == nil {
		t = s.newTraceLocked(string(id[:]))
	}
	s.mergeLocked(t, f, incoming)
}

// recordBatch returns the batch recordSpan saves for span: its trace-level
// fields, taken from span when it is a root span, and span encoded, unless
// the drop rules keep it out of the store (n is then 0).
func (s *Store) recordBatch(span sdktrace.ReadOnlySpan) (f batchFields, in [1]storedSpan, n int) {
	root := !span.Parent().IsValid()
	if s.dropKVs(span.Attributes()) {
		if root {
			f = batchFields{displayName: span.Name(), start: Millis(span.StartTime()), end: Millis(span.EndTime()),
				has: traceName | traceStart | traceEnd | traceOwnName}
		}
		return f, in, 0
	}
	in[0] = encodeReadOnly(span)
	if root {
		// The display name shares the stored span's memory.
		f = batchFields{displayName: in[0].displayName(), start: in[0].start, end: in[0].end, has: traceName | traceStart | traceEnd}
	}
	return f, in, 1
}

// dropKVs is dropSpan, or isWrapper, for a span with the attributes kvs.
func (s *Store) dropKVs(kvs []attribute.KeyValue) bool {
	for _, kv := range kvs {
		k := string(kv.Key)
		want, filtered := s.drop[k]
		if !filtered && k != "genkit:name" {
			continue
		}
		// The value as converted (attrValue), if it is a string.
		var a string
		if kv.Value.Type() == attribute.STRING {
			a = kv.Value.AsString()
		} else if str, ok := attrValue(kv.Value).(string); ok {
			a = str
		} else {
			continue
		}
		if filtered && a == want || k == "genkit:name" && a == devRunActionWrapper {
			return true
		}
	}
	return false
}

// batchFields are the trace-level fields of a batch; has says which are
// set (trace*).
type batchFields struct {
	displayName string
	start, end  float64
	has         uint8
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
// Ingest copies td (attribute values of types other than those of JSON and
// OpenTelemetry attributes are kept as they are, as Clone does); the caller
// keeps ownership. It fails for an empty trace id, or with ErrClosed after
// Shutdown.
func (s *Store) Ingest(td TraceData) error {
	if td.TraceID == "" {
		return errors.New("tracestore: trace id is empty")
	}
	incoming := s.filter(td.TraceID, td.Spans)
	var f batchFields
	if td.DisplayName != nil {
		// Share the memory of a root span's equal display name, if any.
		f.displayName, f.has = *td.DisplayName, traceName|traceOwnName
		for i := range incoming {
			if incoming[i].parent() == "" {
				if name := incoming[i].displayName(); name == f.displayName {
					f.displayName = name
					f.has &^= traceOwnName
					break
				}
			}
		}
	}
	if td.StartTime != nil {
		f.start, f.has = *td.StartTime, f.has|traceStart
	}
	if td.EndTime != nil {
		f.end, f.has = *td.EndTime, f.has|traceEnd
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrClosed
	}
	t := s.traces[td.TraceID]
	if t == nil {
		t = s.newTraceLocked(td.TraceID)
	}
	s.mergeLocked(t, f, incoming)
	return nil
}

// newTraceLocked stores a new, empty trace. s.mu is held.
func (s *Store) newTraceLocked(id string) *storedTrace {
	t := &storedTrace{id: id}
	s.pushLocked(t)
	s.traces[id] = t
	return t
}

// mergeLocked merges the kept spans of a batch of t, and its trace-level
// fields. s.mu is held.
func (s *Store) mergeLocked(t *storedTrace, f batchFields, incoming []storedSpan) {
	before := t.bytes
	hasRoot := false
	for _, in := range incoming {
		id, parent, _ := prefix(in.enc)
		if parent == "" {
			hasRoot = true
		}
		i := t.find(id)
		if i < 0 {
			t.add(id, in)
			s.spans++
		} else {
			old := &t.spans[i]
			if old.end != 0 && in.end == 0 {
				continue // a stale start arriving after the end
			}
			t.spanBytes -= old.size()
			t.replace(i, id, in)
		}
		t.spanBytes += in.size()
	}
	if len(incoming) == 0 {
		// Everything was filtered: the server assumes the batch was an
		// internal root and promotes whatever referenced it.
		for i := range t.spans {
			sp := &t.spans[i]
			if p := sp.parent(); p != "" && t.find(p) < 0 {
				t.spanBytes -= sp.size()
				t.replace(i, sp.id(), sp.withParent(""))
				t.spanBytes += sp.size()
			}
		}
	}
	if f.has&traceName != 0 {
		t.displayName = f.displayName
		t.has = t.has&^traceOwnName | f.has&traceOwnName
	}
	if f.has&traceStart != 0 {
		t.startTime = f.start
	}
	if f.has&traceEnd != 0 {
		t.endTime = f.end
	}
	t.has |= f.has &^ traceOwnName
	if hasRoot {
		if !t.indexed {
			s.indexed = append(s.indexed, t)
			t.indexed = true
		}
		t.idx = buildIndex(t)
		s.indexSeq++
		t.idxSeq = s.indexSeq
		s.indexDirty = true
	}
	t.bytes = t.spanBytes + traceSize(t)
	s.bytes += t.bytes - before
	s.broadcastLocked(t, incoming)
	s.evictLocked(t)
}

// pushLocked appends t to the list of traces by first-seen time.
func (s *Store) pushLocked(t *storedTrace) {
	t.older = s.newest
	if s.newest != nil {
		s.newest.newer = t
	} else {
		s.oldest = t
	}
	s.newest = t
}

// unlinkLocked removes t from the list of traces by first-seen time.
func (s *Store) unlinkLocked(t *storedTrace) {
	if t.older != nil {
		t.older.newer = t.newer
	} else {
		s.oldest = t.newer
	}
	if t.newer != nil {
		t.newer.older = t.older
	} else {
		s.newest = t.older
	}
	t.older, t.newer = nil, nil
}

// filter applies the drop rules to a batch of the trace traceID and
// returns the kept spans, encoded, in a deterministic order (start time,
// then id).
func (s *Store) filter(traceID string, spans map[string]SpanData) []storedSpan {
	ids := make([]string, 0, len(spans))
	for id, sd := range spans {
		if !s.dropSpan(&sd) {
			ids = append(ids, id)
		}
	}
	if len(ids) == 1 {
		if sd := spans[ids[0]]; isWrapper(&sd) {
			return nil
		}
	}
	out := make([]storedSpan, len(ids))
	for i, id := range ids {
		sd := spans[id]
		out[i] = encodeSpan(traceID, id, &sd)
	}
	slices.SortFunc(out, func(a, b storedSpan) int {
		return cmp.Or(cmp.Compare(a.start, b.start), strings.Compare(a.id(), b.id()))
	})
	return out
}

// isWrapper reports whether sd is the dev-run-action-wrapper span the
// telemetry server drops when it is alone in a batch.
func isWrapper(sd *SpanData) bool {
	return sd.Attributes["genkit:name"] == devRunActionWrapper
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
		t := s.oldest
		if t == cur {
			t = t.newer
		}
		if t == nil {
			if s.bytes <= s.maxBytes {
				return
			}
			t = cur
		}
		reason := "max traces"
		if len(s.traces) <= s.maxTraces {
			reason = "max bytes"
		}
		spans := len(t.spans)
		s.removeLocked(t)
		s.evicted++
		if !s.evictedFor[reason] {
			s.evictedFor[reason] = true
			s.logFirstEviction(reason)
		}
		s.log.Debug("tracestore: trace evicted", "traceId", t.id, "spans", spans, "reason", reason)
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
	s.unlinkLocked(t)
	delete(s.traces, t.id)
	s.bytes -= t.bytes
	s.spans -= len(t.spans)
	t.evicted = true
	// The index may hold t until it is next sorted or pruned: release
	// what t holds now (its display name may share a span's memory), so
	// that only the storedTrace stays reachable.
	t.spans, t.byID, t.idx, t.displayName = nil, nil, indexEntry{}, ""
	if t.indexed {
		s.indexDirty = true
		s.indexEvicted++
		if s.indexEvicted > len(s.traces)/8+64 {
			// Release the evicted traces: without a List call nothing
			// else would. Pruning after an eighth of the stored traces
			// keeps the index small at a cost of a few steps per
			// eviction.
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
	td := t.fieldsLocked()
	td.Spans = make(map[string]SpanData, len(t.spans))
	a := newSpanAllocs(len(t.spans))
	for i := range t.spans {
		sp := &t.spans[i]
		td.Spans[sp.id()] = sp.data(t.id, a)
	}
	return td
}

// fieldsLocked returns t's id and trace-level fields, without spans.
func (t *storedTrace) fieldsLocked() TraceData {
	td := TraceData{TraceID: t.id}
	if t.has&traceName != 0 {
		td.DisplayName = new(t.displayName)
	}
	if t.has&traceStart != 0 {
		td.StartTime = new(t.startTime)
	}
	if t.has&traceEnd != 0 {
		td.EndTime = new(t.endTime)
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

// The sizes of the structures the store allocates, for Stats.Bytes.
const (
	// spanSlot is a span's entry in its trace, plus its share of the
	// slice's spare capacity.
	spanSlot = int64(unsafe.Sizeof(storedSpan{})) * 5 / 4
	// traceFixed is a trace's storedTrace plus its entries in the store's
	// map and index.
	traceFixed = int64(unsafe.Sizeof(storedTrace{})) + 64
	// otherSlot is a value kept aside (storedSpan.other): its interface
	// value, and again for what it points to.
	otherSlot = 16
)

// size returns the estimated size of sp.
func (sp *storedSpan) size() int64 {
	n := spanSlot + allocSize(len(sp.enc))
	if sp.other != nil {
		// The slice, its array and each value's own allocation.
		n += allocSize(int(unsafe.Sizeof([]any{}))) + allocSize(cap(*sp.other)*otherSlot) + int64(len(*sp.other))*otherSlot
	}
	return n
}

// traceSize returns the estimated size of t without its spans.
func traceSize(t *storedTrace) int64 {
	n := allocSize(int(traceFixed)) + allocSize(len(t.id))
	if t.has&traceOwnName != 0 {
		n += allocSize(len(t.displayName))
	}
	if t.byID != nil {
		n += int64(len(t.byID)) * 48
	}
	for _, f := range t.idx.genkitx {
		n += allocSize(len(f.val)) + 32
	}
	if t.idx.genkitx != nil {
		n += allocSize(cap(t.idx.genkitx) * int(unsafe.Sizeof(indexField{})))
	}
	return n
}

// sizeClasses are the sizes the Go allocator rounds small allocations up
// to (runtime/sizeclasses.go).
var sizeClasses = [...]int{
	8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280, 1408,
	1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528, 6784, 6912,
	8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072, 20480, 21760,
	24576, 27264, 28672, 32768,
}

// allocSize returns the heap size of an allocation of n bytes.
func allocSize(n int) int64 {
	if n == 0 {
		return 0
	}
	if n > sizeClasses[len(sizeClasses)-1] {
		const page = 8192
		return int64((n + page - 1) / page * page)
	}
	i, _ := slices.BinarySearch(sizeClasses[:], n)
	return int64(sizeClasses[i])
}
