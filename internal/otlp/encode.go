package otlp

import (
	"encoding/binary"
	"math"
	"strings"
	"time"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// This file encodes an ExportTraceServiceRequest in the protobuf binary
// format (OTLP/HTTP's application/x-protobuf), field by field, from the
// OTLP protocol's .proto files (opentelemetry/proto/collector/trace/v1,
// trace/v1, common/v1, resource/v1). The wire format needs only varints,
// little-endian fixed-width numbers and length-prefixed bytes, which
// encoding/binary provides.

// Protobuf wire types.
const (
	wireVarint  = 0
	wireFixed64 = 1
	wireBytes   = 2
	wireFixed32 = 5
)

// Span flags (trace/v1 SpanFlags): the low 8 bits are the W3C trace flags;
// these say whether the parent (or the linked span) is remote, and that
// this is known.
const (
	flagHasIsRemote = 0x100
	flagIsRemote    = 0x200
)

// resourceGroup holds the spans of one resource, by scope.
type resourceGroup struct {
	res    *resource.Resource
	scopes []scopeGroup
}

// scopeGroup holds the spans of one instrumentation scope.
type scopeGroup struct {
	scope instrumentation.Scope
	spans []sdktrace.ReadOnlySpan
}

// groupSpans groups spans by resource, then by instrumentation scope, in
// the order they first appear. A batch seldom has more than one resource
// and a few scopes, so groups are found by a linear search.
func groupSpans(spans []sdktrace.ReadOnlySpan) []resourceGroup {
	var groups []resourceGroup
	for _, s := range spans {
		if s == nil {
			continue
		}
		res, scope := s.Resource(), s.InstrumentationScope()
		key := res.Equivalent()
		ri := -1
		for i := range groups {
			if groups[i].res.Equivalent() == key {
				ri = i
				break
			}
		}
		if ri < 0 {
			groups = append(groups, resourceGroup{res: res})
			ri = len(groups) - 1
		}
		g := &groups[ri]
		si := -1
		for i := range g.scopes {
			if g.scopes[i].scope == scope {
				si = i
				break
			}
		}
		if si < 0 {
			g.scopes = append(g.scopes, scopeGroup{scope: scope})
			si = len(g.scopes) - 1
		}
		g.scopes[si].spans = append(g.scopes[si].spans, s)
	}
	return groups
}

// unixNano is t in nanoseconds since the Unix epoch, 0 for times before
// it (the zero time among them).
func unixNano(t time.Time) uint64 {
	return uint64(max(0, t.UnixNano()))
}

// clampCount is a dropped-items count as the protocol's uint32.
func clampCount(n int) uint32 {
	return uint32(min(max(n, 0), math.MaxUint32))
}

// spanFlags is the flags field of a span or link: the W3C trace flags of
// sc, and whether parent is remote.
func spanFlags(sc, parent trace.SpanContext) uint32 {
	f := uint32(sc.TraceFlags()) | flagHasIsRemote
	if parent.IsRemote() {
		f |= flagIsRemote
	}
	return f
}

// spanKind is the protocol's span kind (trace/v1 Span.SpanKind), whose
// values are those of trace.SpanKind; an unknown kind is unspecified (0).
func spanKind(k trace.SpanKind) uint64 {
	if k < trace.SpanKindUnspecified || k > trace.SpanKindConsumer {
		return 0
	}
	return uint64(k)
}

// statusCode is the protocol's status code (trace/v1 Status.StatusCode).
func statusCode(c codes.Code) uint64 {
	switch c {
	case codes.Ok:
		return 1
	case codes.Error:
		return 2
	default:
		return 0
	}
}

// validUTF8 returns s with invalid UTF-8 replaced by U+FFFD: protobuf
// strings must be UTF-8, and a receiver rejects the whole request if one
// is not.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// protoEncoder appends protobuf fields to b.
type protoEncoder struct {
	b []byte
}

func (e *protoEncoder) tag(num, wire int) {
	e.b = binary.AppendUvarint(e.b, uint64(num)<<3|uint64(wire))
}

// begin starts the embedded message of field num and returns where its
// content starts, for end.
func (e *protoEncoder) begin(num int) int {
	e.tag(num, wireBytes)
	return len(e.b)
}

// end prefixes the message content from start on with its length.
func (e *protoEncoder) end(start int) {
	n := len(e.b) - start
	var prefix [binary.MaxVarintLen64]byte
	p := binary.PutUvarint(prefix[:], uint64(n))
	e.b = append(e.b, prefix[:p]...)
	copy(e.b[start+p:], e.b[start:start+n])
	copy(e.b[start:], prefix[:p])
}

// bytes appends a length-delimited field, even if empty.
func (e *protoEncoder) bytes(num int, v []byte) {
	e.tag(num, wireBytes)
	e.b = binary.AppendUvarint(e.b, uint64(len(v)))
	e.b = append(e.b, v...)
}

// str appends a string field, even if empty.
func (e *protoEncoder) str(num int, v string) {
	v = validUTF8(v)
	e.tag(num, wireBytes)
	e.b = binary.AppendUvarint(e.b, uint64(len(v)))
	e.b = append(e.b, v...)
}

// optStr appends a string field unless it is empty (a proto3 default).
func (e *protoEncoder) optStr(num int, v string) {
	if v != "" {
		e.str(num, v)
	}
}

// varint appends a varint field, even if zero.
func (e *protoEncoder) varint(num int, v uint64) {
	e.tag(num, wireVarint)
	e.b = binary.AppendUvarint(e.b, v)
}

// optVarint appends a varint field unless it is zero.
func (e *protoEncoder) optVarint(num int, v uint64) {
	if v != 0 {
		e.varint(num, v)
	}
}

// fixed64 appends a fixed64 (or double) field, even if zero.
func (e *protoEncoder) fixed64(num int, v uint64) {
	e.tag(num, wireFixed64)
	e.b = binary.LittleEndian.AppendUint64(e.b, v)
}

func (e *protoEncoder) optFixed64(num int, v uint64) {
	if v != 0 {
		e.fixed64(num, v)
	}
}

func (e *protoEncoder) optFixed32(num int, v uint32) {
	if v != 0 {
		e.tag(num, wireFixed32)
		e.b = binary.LittleEndian.AppendUint32(e.b, v)
	}
}

// appendProtoRequest appends the ExportTraceServiceRequest holding spans
// to b.
func appendProtoRequest(b []byte, spans []sdktrace.ReadOnlySpan) []byte {
	e := protoEncoder{b: b}
	for _, g := range groupSpans(spans) {
		rs := e.begin(1) // ExportTraceServiceRequest.resource_spans
		if g.res != nil {
			r := e.begin(1) // ResourceSpans.resource
			for iter := g.res.Iter(); iter.Next(); {
				e.keyValue(1, iter.Attribute()) // Resource.attributes
			}
			e.end(r)
		}
		for _, sg := range g.scopes {
			ss := e.begin(2) // ResourceSpans.scope_spans
			if sg.scope != (instrumentation.Scope{}) {
				sc := e.begin(1) // ScopeSpans.scope
				e.optStr(1, sg.scope.Name)
				e.optStr(2, sg.scope.Version)
				for iter := sg.scope.Attributes.Iter(); iter.Next(); {
					e.keyValue(3, iter.Attribute())
				}
				e.end(sc)
			}
			for _, s := range sg.spans {
				e.span(2, s) // ScopeSpans.spans
			}
			e.optStr(3, sg.scope.SchemaURL) // ScopeSpans.schema_url
			e.end(ss)
		}
		e.optStr(3, g.res.SchemaURL()) // ResourceSpans.schema_url
		e.end(rs)
	}
	return e.b
}

// span appends s as the Span of field num.
func (e *protoEncoder) span(num int, s sdktrace.ReadOnlySpan) {
	start := e.begin(num)
	sc, parent := s.SpanContext(), s.Parent()
	tid, sid := sc.TraceID(), sc.SpanID()
	e.bytes(1, tid[:])
	e.bytes(2, sid[:])
	e.optStr(3, sc.TraceState().String())
	if psid := parent.SpanID(); psid.IsValid() {
		e.bytes(4, psid[:])
	}
	e.optStr(5, s.Name())
	e.optVarint(6, spanKind(s.SpanKind()))
	e.optFixed64(7, unixNano(s.StartTime()))
	e.optFixed64(8, unixNano(s.EndTime()))
	for _, kv := range s.Attributes() {
		e.keyValue(9, kv)
	}
	e.optVarint(10, uint64(clampCount(s.DroppedAttributes())))
	for _, ev := range s.Events() {
		m := e.begin(11)
		e.optFixed64(1, unixNano(ev.Time))
		e.optStr(2, ev.Name)
		for _, kv := range ev.Attributes {
			e.keyValue(3, kv)
		}
		e.optVarint(4, uint64(clampCount(ev.DroppedAttributeCount)))
		e.end(m)
	}
	e.optVarint(12, uint64(clampCount(s.DroppedEvents())))
	for _, l := range s.Links() {
		m := e.begin(13)
		ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
		e.bytes(1, ltid[:])
		e.bytes(2, lsid[:])
		e.optStr(3, l.SpanContext.TraceState().String())
		for _, kv := range l.Attributes {
			e.keyValue(4, kv)
		}
		e.optVarint(5, uint64(clampCount(l.DroppedAttributeCount)))
		e.optFixed32(6, spanFlags(l.SpanContext, l.SpanContext))
		e.end(m)
	}
	e.optVarint(14, uint64(clampCount(s.DroppedLinks())))
	st := e.begin(15) // Status, sent even when unset
	status := s.Status()
	e.optStr(2, status.Description)
	e.optVarint(3, statusCode(status.Code))
	e.end(st)
	e.optFixed32(16, spanFlags(sc, parent))
	e.end(start)
}

// keyValue appends kv as the KeyValue of field num.
func (e *protoEncoder) keyValue(num int, kv attribute.KeyValue) {
	start := e.begin(num)
	e.optStr(1, string(kv.Key))
	e.value(2, kv.Value)
	e.end(start)
}

// value appends v as the AnyValue of field num. The AnyValue fields are a
// oneof, sent even when they hold their type's zero value; an empty value
// is an AnyValue with none set.
func (e *protoEncoder) value(num int, v attribute.Value) {
	start := e.begin(num)
	switch v.Type() {
	case attribute.STRING:
		e.str(1, v.AsString())
	case attribute.BOOL:
		e.varint(2, boolVarint(v.AsBool()))
	case attribute.INT64:
		e.varint(3, uint64(v.AsInt64()))
	case attribute.FLOAT64:
		e.fixed64(4, math.Float64bits(v.AsFloat64()))
	case attribute.BYTESLICE:
		e.bytes(7, v.AsByteSlice())
	case attribute.BOOLSLICE:
		protoArray(e, v.AsBoolSlice(), attribute.BoolValue)
	case attribute.INT64SLICE:
		protoArray(e, v.AsInt64Slice(), attribute.Int64Value)
	case attribute.FLOAT64SLICE:
		protoArray(e, v.AsFloat64Slice(), attribute.Float64Value)
	case attribute.STRINGSLICE:
		protoArray(e, v.AsStringSlice(), attribute.StringValue)
	case attribute.SLICE:
		protoArray(e, v.AsSlice(), func(x attribute.Value) attribute.Value { return x })
	case attribute.MAP:
		m := e.begin(6)
		for _, kv := range v.AsMap() {
			e.keyValue(1, kv)
		}
		e.end(m)
	case attribute.EMPTY:
	default:
		e.str(1, "INVALID")
	}
	e.end(start)
}

func boolVarint(b bool) uint64 {
	if b {
		return 1
	}
	return 0
}

// protoArray appends xs as the ArrayValue (field 5) of an AnyValue: each
// element an AnyValue of its own, as value writes it.
func protoArray[T any](e *protoEncoder, xs []T, val func(T) attribute.Value) {
	a := e.begin(5)
	for _, x := range xs {
		e.value(1, val(x))
	}
	e.end(a)
}
