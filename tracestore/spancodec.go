package tracestore

import (
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"math"
	"slices"
	"sync"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// A stored span keeps all its fields but its times in one string, enc:
//
//	uvarint len(id), id            the span's key in its trace
//	uvarint len(parent), parent    ParentSpanID
//	body:
//	  uvarint flags                (span* below)
//	  [SpanID]                     a string, unless it equals id
//	  [TraceID]                    a string, unless it equals the trace's id
//	  DisplayName, SpanKind        strings
//	  InstrumentationLibrary       Name, Version, SchemaURL: strings
//	  [Status]                     zigzag Code, Message string
//	  Attributes                   a map (see below)
//	  [Links]                      uvarint count; each link: uvarint flags
//	                               (link*), [TraceID, SpanID strings,
//	                               zigzag TraceFlags], Attributes map,
//	                               zigzag DroppedAttributesCount
//	  [TimeEvents]                 [uvarint count; each event: 8-byte
//	                               Time, Attributes map, Description string]
//
// Strings in the body and attribute values are tagged (tag* below). A
// string is one of the common Genkit strings (staticStrings: one byte), a
// reference to an equal string earlier in the body (its offset and
// length), or its bytes. A map or slice is its length plus one, 0 standing
// for nil, then its elements; a map's keys are strings. Values of types
// without a tag are kept aside, in storedSpan.other, and referenced by
// index. Decoding gives back the same Go values and types.
//
// The strings a read returns are substrings of enc, so reads copy no
// string bytes; enc is never modified. A typical Genkit span takes its
// strings' bytes plus about 30.

// storedSpan is a span as a Store keeps it.
type storedSpan struct {
	enc        string
	start, end float64
	// other holds the attribute values of types the encoding has no tag
	// for, in encoding order; nil when there are none.
	other *[]any
}

// Flags of a span's body.
const (
	spanOwnID = 1 << iota // SpanID differs from the span's key
	spanOwnTraceID
	spanSameProcess // SameProcessAsParentSpan is set
	spanSameProcessValue
	spanStatus
	spanTruncated
	spanLinks      // Links is not nil
	spanTimeEvents // TimeEvents is not nil
	spanTimeEventList
)

// Flags of a link.
const (
	linkContext = 1 << iota
	linkRemote
)

// Value tags. Tags from tagStatic on are staticStrings[tag-tagStatic];
// tags from tagShort to tagStatic-1 are strings of tag-tagShort bytes.
const (
	tagNil byte = iota
	tagFalse
	tagTrue
	tagString // uvarint length, bytes
	tagRef    // uvarint offset in the body, uvarint length
	tagInt64  // zigzag varint
	tagInt    // zigzag varint
	tagFloat64
	tagNumber // json.Number: uvarint length, bytes
	tagStrings
	tagBools
	tagInt64s
	tagFloat64s
	tagList
	tagMap
	tagStringMap
	tagOther // uvarint index in storedSpan.other

	tagShort  byte = 0x40
	tagStatic byte = 0x80
)

// staticStrings are strings Genkit spans carry over and over: attribute
// keys and values, span kinds and the tracer's name. Each is stored as one
// byte, and read without allocating. There may be at most 128.
var staticStrings = [...]string{
	"genkit:type", "genkit:metadata:subtype", "genkit:key", "genkit:name", "genkit:path",
	"genkit:input", "genkit:output", "genkit:state", "genkit:isRoot", "genkit:isFailureSource",
	"genkit:metadata:context", "genkit:init", "genkit:sessionId", "genkit:threadName",
	"genkit:metadata:flow:name", "genkit:metadata:flow:state", "genkit:metadata:flow:wrapperAction",
	"genkit:metadata:flow:stepType", "genkit:metadata:flow:stepName", "genkit:metadata:flow:dispatchType",
	"genkit:metadata:flow:id", "genkit:metadata:flow:execution",
	"exception.type", "exception.message", "exception.stacktrace",
	"action", "flow", "flowStep", "util", "model", "background-model", "tool", "prompt",
	"executable-prompt", "embedder", "retriever", "indexer", "evaluator", "reranker",
	"success", "error", "{}", "exception",
	"INTERNAL", "SERVER", "CLIENT", "PRODUCER", "CONSUMER",
	"genkit-tracer", "v1",
}

var _ [0x100 - int(tagStatic) - len(staticStrings)]struct{} // at most 128 static strings

// maxStaticLen is the length of the longest static string.
var maxStaticLen = len(slices.MaxFunc(staticStrings[:], func(a, b string) int { return len(a) - len(b) }))

var (
	staticIndex = func() map[string]byte {
		m := make(map[string]byte, len(staticStrings))
		for i, s := range staticStrings {
			m[s] = byte(i)
		}
		return m
	}()
	// staticAnys are the static strings as interface values, so that
	// reading them allocates nothing.
	staticAnys = func() []any {
		a := make([]any, len(staticStrings))
		for i, s := range staticStrings {
			a[i] = s
		}
		return a
	}()
)

// maxRefs bounds the strings an encoder compares a new string with.
const maxRefs = 32

// minRefLen is the shortest string stored as a reference to an earlier
// copy; a reference takes at least 3 bytes.
const minRefLen = 4

// encoder builds encoded spans. Its buffers are reused (encoders).
type encoder struct {
	buf  []byte
	body int // start of the body in buf
	// refs are the strings written in the body, as offsets in it and
	// lengths, for references.
	refs  []strRef
	other []any
}

type strRef struct{ off, n int }

var encoders = sync.Pool{New: func() any { return new(encoder) }}

// encodeSpan encodes sd, the span keyed id in the trace traceID.
func encodeSpan(traceID, id string, sd *SpanData) storedSpan {
	e := encoders.Get().(*encoder)
	e.buf, e.refs, e.other = e.buf[:0], e.refs[:0], e.other[:0]
	e.raw(id)
	e.raw(sd.ParentSpanID)
	e.body = len(e.buf)
	var flags uint64
	if sd.SpanID != id {
		flags |= spanOwnID
	}
	if sd.TraceID != traceID {
		flags |= spanOwnTraceID
	}
	if sd.SameProcessAsParentSpan != nil {
		flags |= spanSameProcess
		if sd.SameProcessAsParentSpan.Value {
			flags |= spanSameProcessValue
		}
	}
	if sd.Status != nil {
		flags |= spanStatus
	}
	if sd.Truncated {
		flags |= spanTruncated
	}
	if sd.Links != nil {
		flags |= spanLinks
	}
	if sd.TimeEvents != nil {
		flags |= spanTimeEvents
		if sd.TimeEvents.TimeEvent != nil {
			flags |= spanTimeEventList
		}
	}
	e.buf = binary.AppendUvarint(e.buf, flags)
	if flags&spanOwnID != 0 {
		e.str(sd.SpanID)
	}
	if flags&spanOwnTraceID != 0 {
		e.str(sd.TraceID)
	}
	e.str(sd.DisplayName)
	e.str(sd.SpanKind)
	e.str(sd.InstrumentationLibrary.Name)
	e.str(sd.InstrumentationLibrary.Version)
	e.str(sd.InstrumentationLibrary.SchemaURL)
	if sd.Status != nil {
		e.int(sd.Status.Code)
		e.str(sd.Status.Message)
	}
	if sd.Attributes == nil {
		e.count(false, 0) // stored spans always have attributes
	} else {
		e.attrs(sd.Attributes)
	}
	if sd.Links != nil {
		e.buf = binary.AppendUvarint(e.buf, uint64(len(sd.Links)))
		for i := range sd.Links {
			l := &sd.Links[i]
			var lf uint64
			if l.Context != nil {
				lf |= linkContext
				if l.Context.IsRemote {
					lf |= linkRemote
				}
			}
			e.buf = binary.AppendUvarint(e.buf, lf)
			if l.Context != nil {
				e.str(l.Context.TraceID)
				e.str(l.Context.SpanID)
				e.int(l.Context.TraceFlags)
			}
			e.attrs(l.Attributes)
			e.int(l.DroppedAttributesCount)
		}
	}
	if sd.TimeEvents != nil && sd.TimeEvents.TimeEvent != nil {
		e.buf = binary.AppendUvarint(e.buf, uint64(len(sd.TimeEvents.TimeEvent)))
		for i := range sd.TimeEvents.TimeEvent {
			ev := &sd.TimeEvents.TimeEvent[i]
			e.float(ev.Time)
			e.attrs(ev.Annotation.Attributes)
			e.str(ev.Annotation.Description)
		}
	}
	return e.done(sd.StartTime, sd.EndTime)
}

// encodeReadOnly encodes s as encodeSpan encodes FromSpan(s), without
// building the SpanData: the span is keyed by its span id and its trace
// is its own.
func encodeReadOnly(s sdktrace.ReadOnlySpan) storedSpan {
	e := encoders.Get().(*encoder)
	e.buf, e.refs, e.other = e.buf[:0], e.refs[:0], e.other[:0]
	sc := s.SpanContext()
	parent := s.Parent()
	sid := sc.SpanID()
	e.rawHex(sid[:])
	if parent.IsValid() {
		pid := parent.SpanID()
		e.rawHex(pid[:])
	} else {
		e.raw("")
	}
	e.body = len(e.buf)
	st := statusOf(s.Status())
	flags := uint64(spanSameProcess | spanStatus | spanLinks | spanTimeEvents | spanTimeEventList)
	if !parent.IsRemote() {
		flags |= spanSameProcessValue
	}
	e.buf = binary.AppendUvarint(e.buf, flags)
	e.str(s.Name())
	e.str(spanKindName(s.SpanKind()))
	scope := s.InstrumentationScope()
	e.str(scope.Name)
	e.str(scope.Version)
	e.str(scope.SchemaURL)
	e.int(st.Code)
	e.str(st.Message)
	e.kvs(s.Attributes())
	links := s.Links()
	e.buf = binary.AppendUvarint(e.buf, uint64(len(links)))
	for _, l := range links {
		var lf uint64 = linkContext
		if l.SpanContext.IsRemote() {
			lf |= linkRemote
		}
		e.buf = binary.AppendUvarint(e.buf, lf)
		tid, sid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		e.hex(tid[:])
		e.hex(sid[:])
		e.int(int(l.SpanContext.TraceFlags()))
		e.kvs(l.Attributes)
		e.int(l.DroppedAttributeCount)
	}
	events := s.Events()
	e.buf = binary.AppendUvarint(e.buf, uint64(len(events)))
	for _, ev := range events {
		e.float(Millis(ev.Time))
		e.kvs(ev.Attributes)
		e.str(ev.Name)
	}
	return e.done(Millis(s.StartTime()), Millis(s.EndTime()))
}

// maxPooledBuf bounds the buffer an encoder keeps for the next span.
const maxPooledBuf = 64 << 10

// done returns the span e holds, and puts e back in encoders.
func (e *encoder) done(start, end float64) storedSpan {
	sp := storedSpan{enc: string(e.buf), start: start, end: end}
	if len(e.other) > 0 {
		other := slices.Clone(e.other)
		sp.other = &other
		clear(e.other)
	}
	if cap(e.buf) > maxPooledBuf {
		e.buf = nil
	}
	encoders.Put(e)
	return sp
}

// rawHex appends b in lowercase hex with its length and no tag, as raw
// appends b's hex string.
func (e *encoder) rawHex(b []byte) {
	e.buf = binary.AppendUvarint(e.buf, uint64(2*len(b)))
	e.buf = hex.AppendEncode(e.buf, b)
}

// hex appends b's lowercase hex string as str would.
func (e *encoder) hex(b []byte) {
	var s [2 * len(trace.TraceID{})]byte
	e.str(string(hex.AppendEncode(s[:0], b)))
}

// raw appends s with its length and no tag.
func (e *encoder) raw(s string) {
	e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	e.buf = append(e.buf, s...)
}

func (e *encoder) int(n int) {
	e.buf = binary.AppendVarint(e.buf, int64(n))
}

func (e *encoder) float(f float64) {
	e.buf = binary.LittleEndian.AppendUint64(e.buf, math.Float64bits(f))
}

// count appends the length of a slice or map, or 0 for a nil one.
func (e *encoder) count(isNil bool, n int) {
	if isNil {
		e.buf = append(e.buf, 0)
		return
	}
	e.buf = binary.AppendUvarint(e.buf, uint64(n)+1)
}

// str appends a tagged string: static, a reference to an equal string
// written before, or its bytes.
func (e *encoder) str(s string) {
	if len(s) <= maxStaticLen {
		if i, ok := staticIndex[s]; ok {
			e.buf = append(e.buf, tagStatic+i)
			return
		}
	}
	if len(s) >= minRefLen {
		body := e.buf[e.body:]
		for _, r := range e.refs {
			if r.n == len(s) && string(body[r.off:r.off+r.n]) == s {
				e.buf = append(e.buf, tagRef)
				e.buf = binary.AppendUvarint(e.buf, uint64(r.off))
				e.buf = binary.AppendUvarint(e.buf, uint64(r.n))
				return
			}
		}
	}
	if len(s) < int(tagStatic-tagShort) {
		e.buf = append(e.buf, tagShort+byte(len(s)))
	} else {
		e.buf = append(e.buf, tagString)
		e.buf = binary.AppendUvarint(e.buf, uint64(len(s)))
	}
	if len(s) >= minRefLen && len(e.refs) < maxRefs {
		e.refs = append(e.refs, strRef{off: len(e.buf) - e.body, n: len(s)})
	}
	e.buf = append(e.buf, s...)
}

// attrs appends a map of attributes.
func (e *encoder) attrs(m map[string]any) {
	e.count(m == nil, len(m))
	for k, v := range m {
		e.str(k)
		e.value(v)
	}
}

// kvs appends OpenTelemetry attributes as attrs appends them converted
// (attrsToMap).
func (e *encoder) kvs(kvs []attribute.KeyValue) {
	e.count(false, len(kvs))
	for _, kv := range kvs {
		e.str(string(kv.Key))
		v := kv.Value
		switch v.Type() {
		case attribute.STRING:
			e.str(v.AsString())
		case attribute.BOOL:
			if v.AsBool() {
				e.buf = append(e.buf, tagTrue)
			} else {
				e.buf = append(e.buf, tagFalse)
			}
		case attribute.FLOAT64:
			if str, ok := nonFinite(v.AsFloat64()); ok {
				e.str(str)
			} else {
				e.buf = append(e.buf, tagFloat64)
				e.float(v.AsFloat64())
			}
		case attribute.INT64:
			e.buf = append(e.buf, tagInt64)
			e.buf = binary.AppendVarint(e.buf, v.AsInt64())
		default:
			e.value(attrValue(v))
		}
	}
}

func (e *encoder) value(v any) {
	switch v := v.(type) {
	case nil:
		e.buf = append(e.buf, tagNil)
	case string:
		e.str(v)
	case bool:
		if v {
			e.buf = append(e.buf, tagTrue)
		} else {
			e.buf = append(e.buf, tagFalse)
		}
	case int64:
		e.buf = append(e.buf, tagInt64)
		e.buf = binary.AppendVarint(e.buf, v)
	case int:
		e.buf = append(e.buf, tagInt)
		e.int(v)
	case float64:
		e.buf = append(e.buf, tagFloat64)
		e.float(v)
	case json.Number:
		e.buf = append(e.buf, tagNumber)
		e.raw(string(v))
	case []string:
		e.buf = append(e.buf, tagStrings)
		e.count(v == nil, len(v))
		for _, s := range v {
			e.str(s)
		}
	case []bool:
		e.buf = append(e.buf, tagBools)
		e.count(v == nil, len(v))
		for _, b := range v {
			if b {
				e.buf = append(e.buf, 1)
			} else {
				e.buf = append(e.buf, 0)
			}
		}
	case []int64:
		e.buf = append(e.buf, tagInt64s)
		e.count(v == nil, len(v))
		for _, n := range v {
			e.buf = binary.AppendVarint(e.buf, n)
		}
	case []float64:
		e.buf = append(e.buf, tagFloat64s)
		e.count(v == nil, len(v))
		for _, f := range v {
			e.float(f)
		}
	case []any:
		e.buf = append(e.buf, tagList)
		e.count(v == nil, len(v))
		for _, x := range v {
			e.value(x)
		}
	case map[string]any:
		e.buf = append(e.buf, tagMap)
		e.attrs(v)
	case map[string]string:
		e.buf = append(e.buf, tagStringMap)
		e.count(v == nil, len(v))
		for k, s := range v {
			e.str(k)
			e.str(s)
		}
	default:
		e.buf = append(e.buf, tagOther)
		e.buf = binary.AppendUvarint(e.buf, uint64(len(e.other)))
		e.other = append(e.other, v)
	}
}

// reader reads an encoded span. Its methods panic on malformed input,
// which only a bug in the encoder could produce.
type reader struct {
	body  string // the body of the encoding
	pos   int    // read position in body
	other []any
}

// prefix returns the id and parent of an encoded span, and the offset of
// its body.
func prefix(enc string) (id, parent string, body int) {
	id, body = rawAt(enc, 0)
	parent, body = rawAt(enc, body)
	return id, parent, body
}

// rawAt reads a string with its length and no tag at off, and returns it
// and the offset after it.
func rawAt(s string, off int) (string, int) {
	n, w := uvarintAt(s, off)
	off += w
	return s[off : off+int(n)], off + int(n)
}

func uvarintAt(s string, off int) (uint64, int) {
	var x uint64
	for i, shift := 0, uint(0); ; i, shift = i+1, shift+7 {
		b := s[off+i]
		if b < 0x80 {
			return x | uint64(b)<<shift, i + 1
		}
		x |= uint64(b&0x7f) << shift
	}
}

// id returns the span's key in its trace.
func (sp *storedSpan) id() string {
	id, _ := rawAt(sp.enc, 0)
	return id
}

// parent returns the span's ParentSpanID.
func (sp *storedSpan) parent() string {
	_, parent, _ := prefix(sp.enc)
	return parent
}

// withParent returns sp with ParentSpanID set to parent.
func (sp storedSpan) withParent(parent string) storedSpan {
	id, _, body := prefix(sp.enc)
	b := binary.AppendUvarint(nil, uint64(len(id)))
	b = append(b, id...)
	b = binary.AppendUvarint(b, uint64(len(parent)))
	b = append(b, parent...)
	b = append(b, sp.enc[body:]...)
	sp.enc = string(b)
	return sp
}

// spanHead is a span's key and parent and the part of its body before its
// attributes.
type spanHead struct {
	id, parent            string
	flags                 uint64
	spanID, traceID       string // set with spanOwnID, spanOwnTraceID
	displayName, spanKind string
	lib                   InstrumentationLibrary
	statusCode            int    // set with spanStatus
	statusMessage         string // set with spanStatus
	attrs                 reader // positioned at the attributes
}

// head reads the span's fields up to its attributes.
func (sp *storedSpan) head() spanHead {
	var h spanHead
	var body int
	h.id, h.parent, body = prefix(sp.enc)
	r := reader{body: sp.enc[body:]}
	if sp.other != nil {
		r.other = *sp.other
	}
	h.flags = r.uvarint()
	if h.flags&spanOwnID != 0 {
		h.spanID = r.str()
	}
	if h.flags&spanOwnTraceID != 0 {
		h.traceID = r.str()
	}
	h.displayName = r.str()
	h.spanKind = r.str()
	h.lib.Name = r.str()
	h.lib.Version = r.str()
	h.lib.SchemaURL = r.str()
	if h.flags&spanStatus != 0 {
		h.statusCode = r.int()
		h.statusMessage = r.str()
	}
	h.attrs = r
	return h
}

// displayName returns the span's DisplayName.
func (sp *storedSpan) displayName() string {
	return sp.head().displayName
}

// spanAllocs hands out the structs a SpanData points to from arrays
// allocated once for the spans of a read. Each span gets its own; when an
// array runs out, the struct is allocated alone.
type spanAllocs struct {
	bools    []BoolValue
	statuses []Status
	events   []TimeEvents
}

// newSpanAllocs returns spanAllocs for n spans.
func newSpanAllocs(n int) *spanAllocs {
	return &spanAllocs{bools: make([]BoolValue, n), statuses: make([]Status, n), events: make([]TimeEvents, n)}
}

// take returns the first element of *s, removed from it, or a new T if
// *s is empty.
func take[T any](s *[]T) *T {
	if len(*s) == 0 {
		return new(T)
	}
	p := &(*s)[0]
	*s = (*s)[1:]
	return p
}

// data returns the span as SpanData, in the trace traceID. The caller owns
// the result; its strings share sp's memory. The structs it points to come
// from a, if not nil.
func (sp *storedSpan) data(traceID string, a *spanAllocs) SpanData {
	if a == nil {
		a = &spanAllocs{}
	}
	h := sp.head()
	sd := SpanData{
		SpanID:                 h.id,
		TraceID:                traceID,
		ParentSpanID:           h.parent,
		StartTime:              sp.start,
		EndTime:                sp.end,
		DisplayName:            h.displayName,
		InstrumentationLibrary: h.lib,
		SpanKind:               h.spanKind,
		Truncated:              h.flags&spanTruncated != 0,
	}
	if h.flags&spanOwnID != 0 {
		sd.SpanID = h.spanID
	}
	if h.flags&spanOwnTraceID != 0 {
		sd.TraceID = h.traceID
	}
	if h.flags&spanSameProcess != 0 {
		sd.SameProcessAsParentSpan = take(&a.bools)
		sd.SameProcessAsParentSpan.Value = h.flags&spanSameProcessValue != 0
	}
	if h.flags&spanStatus != 0 {
		sd.Status = take(&a.statuses)
		sd.Status.Code, sd.Status.Message = h.statusCode, h.statusMessage
	}
	r := &h.attrs
	sd.Attributes = r.attrs()
	if h.flags&spanLinks != 0 {
		sd.Links = make([]Link, r.uvarint())
		for i := range sd.Links {
			l := &sd.Links[i]
			lf := r.uvarint()
			if lf&linkContext != 0 {
				l.Context = &SpanContext{TraceID: r.str(), SpanID: r.str(), IsRemote: lf&linkRemote != 0}
				l.Context.TraceFlags = r.int()
			}
			l.Attributes = r.attrs()
			l.DroppedAttributesCount = r.int()
		}
	}
	if h.flags&spanTimeEvents != 0 {
		sd.TimeEvents = take(&a.events)
		if h.flags&spanTimeEventList != 0 {
			sd.TimeEvents.TimeEvent = make([]TimeEvent, r.uvarint())
			for i := range sd.TimeEvents.TimeEvent {
				ev := &sd.TimeEvents.TimeEvent[i]
				ev.Time = r.float()
				ev.Annotation.Attributes = r.attrs()
				ev.Annotation.Description = r.str()
			}
		}
	}
	return sd
}

// attrs iterates over the span's attributes: each key with a reader
// positioned at its value, which the loop body may read with value (or not
// at all).
func (sp *storedSpan) attrs() func(yield func(string, *reader) bool) {
	return func(yield func(string, *reader) bool) {
		h := sp.head()
		r := &h.attrs
		n := r.uvarint()
		if n == 0 {
			return
		}
		for range n - 1 {
			k := r.str()
			start := r.pos
			if !yield(k, r) {
				return
			}
			r.pos = start
			r.skip()
		}
	}
}

func (r *reader) byte() byte {
	b := r.body[r.pos]
	r.pos++
	return b
}

func (r *reader) uvarint() uint64 {
	x, w := uvarintAt(r.body, r.pos)
	r.pos += w
	return x
}

func (r *reader) varint() int64 {
	u := r.uvarint()
	x := int64(u >> 1)
	if u&1 != 0 {
		x = ^x
	}
	return x
}

func (r *reader) int() int { return int(r.varint()) }

func (r *reader) float() float64 {
	b := r.body[r.pos : r.pos+8]
	r.pos += 8
	return math.Float64frombits(uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56)
}

func (r *reader) raw() string {
	s, end := rawAt(r.body, r.pos)
	r.pos = end
	return s
}

// str reads a tagged string.
func (r *reader) str() string {
	return r.strTag(r.byte())
}

func (r *reader) strTag(tag byte) string {
	switch {
	case tag >= tagStatic:
		return staticStrings[tag-tagStatic]
	case tag >= tagShort:
		n := int(tag - tagShort)
		s := r.body[r.pos : r.pos+n]
		r.pos += n
		return s
	case tag == tagString:
		return r.raw()
	case tag == tagRef:
		off := int(r.uvarint())
		n := int(r.uvarint())
		return r.body[off : off+n]
	}
	panic("tracestore: malformed span encoding")
}

// attrs reads a map of attributes.
func (r *reader) attrs() map[string]any {
	n := r.uvarint()
	if n == 0 {
		return nil
	}
	m := make(map[string]any, n-1)
	for range n - 1 {
		k := r.str()
		m[k] = r.value()
	}
	return m
}

// length reads the length of a slice or map; nil reports a nil one.
func (r *reader) length() (n int, isNil bool) {
	u := r.uvarint()
	if u == 0 {
		return 0, true
	}
	return int(u - 1), false
}

func (r *reader) value() any {
	tag := r.byte()
	switch tag {
	case tagNil:
		return nil
	case tagFalse:
		return false
	case tagTrue:
		return true
	case tagInt64:
		return r.varint()
	case tagInt:
		return r.int()
	case tagFloat64:
		return r.float()
	case tagNumber:
		return json.Number(r.raw())
	case tagStrings:
		n, isNil := r.length()
		if isNil {
			return []string(nil)
		}
		v := make([]string, n)
		for i := range v {
			v[i] = r.str()
		}
		return v
	case tagBools:
		n, isNil := r.length()
		if isNil {
			return []bool(nil)
		}
		v := make([]bool, n)
		for i := range v {
			v[i] = r.byte() != 0
		}
		return v
	case tagInt64s:
		n, isNil := r.length()
		if isNil {
			return []int64(nil)
		}
		v := make([]int64, n)
		for i := range v {
			v[i] = r.varint()
		}
		return v
	case tagFloat64s:
		n, isNil := r.length()
		if isNil {
			return []float64(nil)
		}
		v := make([]float64, n)
		for i := range v {
			v[i] = r.float()
		}
		return v
	case tagList:
		n, isNil := r.length()
		if isNil {
			return []any(nil)
		}
		v := make([]any, n)
		for i := range v {
			v[i] = r.value()
		}
		return v
	case tagMap:
		return r.attrs()
	case tagStringMap:
		n, isNil := r.length()
		if isNil {
			return map[string]string(nil)
		}
		v := make(map[string]string, n)
		for range n {
			k := r.str()
			v[k] = r.str()
		}
		return v
	case tagOther:
		return r.other[r.uvarint()]
	}
	if tag >= tagStatic {
		return staticAnys[tag-tagStatic]
	}
	return r.strTag(tag)
}

// skip moves past one value.
func (r *reader) skip() {
	tag := r.byte()
	switch tag {
	case tagNil, tagFalse, tagTrue:
	case tagInt64, tagInt:
		r.uvarint()
	case tagFloat64:
		r.pos += 8
	case tagNumber:
		r.raw()
	case tagStrings:
		n, _ := r.length()
		for range n {
			r.str()
		}
	case tagBools:
		n, _ := r.length()
		r.pos += n
	case tagInt64s:
		n, _ := r.length()
		for range n {
			r.uvarint()
		}
	case tagFloat64s:
		n, _ := r.length()
		r.pos += 8 * n
	case tagList:
		n, _ := r.length()
		for range n {
			r.skip()
		}
	case tagMap:
		n, _ := r.length()
		for range n {
			r.str()
			r.skip()
		}
	case tagStringMap:
		n, _ := r.length()
		for range 2 * n {
			r.str()
		}
	case tagOther:
		r.uvarint()
	default:
		r.strTag(tag)
	}
}
