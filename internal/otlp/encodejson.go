package otlp

import (
	"encoding/base64"
	"encoding/hex"
	"math"
	"strconv"

	"github.com/go-json-experiment/json/jsontext"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/sdk/instrumentation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// This file encodes an ExportTraceServiceRequest as OTLP/HTTP JSON
// (application/json): the protobuf JSON mapping of the same messages, with
// the differences the OTLP specification makes: trace and span IDs are hex
// strings, not base64, and enums are numbers. As in the protobuf JSON
// mapping, field names are lowerCamelCase, 64-bit integers are decimal
// strings, non-finite doubles are the strings "NaN", "Infinity" and
// "-Infinity", bytes are base64, and fields holding their zero value are
// left out (but for the oneof of AnyValue).

// jsonEncoder appends JSON to b. A member or array element is preceded by
// a comma unless it is the first, which it is when b ends with the opening
// brace or bracket.
type jsonEncoder struct {
	b []byte
}

// sep appends the comma that precedes a member or element, if one does.
func (e *jsonEncoder) sep() {
	if n := len(e.b); n > 0 && e.b[n-1] != '{' && e.b[n-1] != '[' {
		e.b = append(e.b, ',')
	}
}

// key appends the name of a member; its value follows.
func (e *jsonEncoder) key(name string) {
	e.sep()
	e.b = append(e.b, '"')
	e.b = append(e.b, name...)
	e.b = append(e.b, '"', ':')
}

func (e *jsonEncoder) open(name string, brace byte) {
	e.key(name)
	e.b = append(e.b, brace)
}

func (e *jsonEncoder) close(brace byte) {
	e.b = append(e.b, brace)
}

// elem opens an object that is an element of an array.
func (e *jsonEncoder) elem() {
	e.sep()
	e.b = append(e.b, '{')
}

func (e *jsonEncoder) quote(s string) {
	// Not an error: s is valid UTF-8.
	e.b, _ = jsontext.AppendQuote(e.b, validUTF8(s))
}

// str appends a string member, even if empty.
func (e *jsonEncoder) str(name, v string) {
	e.key(name)
	e.quote(v)
}

// optStr appends a string member unless it is empty.
func (e *jsonEncoder) optStr(name, v string) {
	if v != "" {
		e.str(name, v)
	}
}

// optUint appends a 32-bit number member unless it is zero.
func (e *jsonEncoder) optUint(name string, v uint64) {
	if v != 0 {
		e.key(name)
		e.b = strconv.AppendUint(e.b, v, 10)
	}
}

// optUint64 appends a 64-bit number member, a decimal string, unless it
// is zero.
func (e *jsonEncoder) optUint64(name string, v uint64) {
	if v != 0 {
		e.key(name)
		e.b = append(e.b, '"')
		e.b = strconv.AppendUint(e.b, v, 10)
		e.b = append(e.b, '"')
	}
}

// hexID appends an ID member as a lowercase hex string.
func (e *jsonEncoder) hexID(name string, id []byte) {
	e.key(name)
	e.b = append(e.b, '"')
	e.b = hex.AppendEncode(e.b, id)
	e.b = append(e.b, '"')
}

// appendJSONRequest appends the ExportTraceServiceRequest holding spans
// to b, in OTLP JSON.
func appendJSONRequest(b []byte, spans []sdktrace.ReadOnlySpan) []byte {
	e := jsonEncoder{b: b}
	e.b = append(e.b, '{')
	groups := groupSpans(spans)
	if len(groups) > 0 {
		e.open("resourceSpans", '[')
		for _, g := range groups {
			e.elem()
			if g.res != nil {
				e.open("resource", '{')
				if g.res.Len() > 0 {
					e.open("attributes", '[')
					for iter := g.res.Iter(); iter.Next(); {
						e.keyValue(iter.Attribute())
					}
					e.close(']')
				}
				e.close('}')
			}
			e.open("scopeSpans", '[')
			for _, sg := range g.scopes {
				e.elem()
				if sg.scope != (instrumentation.Scope{}) {
					e.open("scope", '{')
					e.optStr("name", sg.scope.Name)
					e.optStr("version", sg.scope.Version)
					if sg.scope.Attributes.Len() > 0 {
						e.open("attributes", '[')
						for iter := sg.scope.Attributes.Iter(); iter.Next(); {
							e.keyValue(iter.Attribute())
						}
						e.close(']')
					}
					e.close('}')
				}
				e.open("spans", '[')
				for _, s := range sg.spans {
					e.span(s)
				}
				e.close(']')
				e.optStr("schemaUrl", sg.scope.SchemaURL)
				e.close('}')
			}
			e.close(']')
			e.optStr("schemaUrl", g.res.SchemaURL())
			e.close('}')
		}
		e.close(']')
	}
	e.close('}')
	return e.b
}

// span appends s as an element of the spans array.
func (e *jsonEncoder) span(s sdktrace.ReadOnlySpan) {
	e.elem()
	sc, parent := s.SpanContext(), s.Parent()
	tid, sid := sc.TraceID(), sc.SpanID()
	e.hexID("traceId", tid[:])
	e.hexID("spanId", sid[:])
	e.optStr("traceState", sc.TraceState().String())
	if psid := parent.SpanID(); psid.IsValid() {
		e.hexID("parentSpanId", psid[:])
	}
	e.optUint("flags", uint64(spanFlags(sc, parent)))
	e.optStr("name", s.Name())
	e.optUint("kind", spanKind(s.SpanKind()))
	e.optUint64("startTimeUnixNano", unixNano(s.StartTime()))
	e.optUint64("endTimeUnixNano", unixNano(s.EndTime()))
	e.attributes(s.Attributes())
	e.optUint("droppedAttributesCount", uint64(clampCount(s.DroppedAttributes())))
	if events := s.Events(); len(events) > 0 {
		e.open("events", '[')
		for _, ev := range events {
			e.elem()
			e.optUint64("timeUnixNano", unixNano(ev.Time))
			e.optStr("name", ev.Name)
			e.attributes(ev.Attributes)
			e.optUint("droppedAttributesCount", uint64(clampCount(ev.DroppedAttributeCount)))
			e.close('}')
		}
		e.close(']')
	}
	e.optUint("droppedEventsCount", uint64(clampCount(s.DroppedEvents())))
	if links := s.Links(); len(links) > 0 {
		e.open("links", '[')
		for _, l := range links {
			e.elem()
			ltid, lsid := l.SpanContext.TraceID(), l.SpanContext.SpanID()
			e.hexID("traceId", ltid[:])
			e.hexID("spanId", lsid[:])
			e.optStr("traceState", l.SpanContext.TraceState().String())
			e.attributes(l.Attributes)
			e.optUint("droppedAttributesCount", uint64(clampCount(l.DroppedAttributeCount)))
			e.optUint("flags", uint64(spanFlags(l.SpanContext, l.SpanContext)))
			e.close('}')
		}
		e.close(']')
	}
	e.optUint("droppedLinksCount", uint64(clampCount(s.DroppedLinks())))
	e.open("status", '{') // sent even when unset
	status := s.Status()
	e.optStr("message", status.Description)
	e.optUint("code", statusCode(status.Code))
	e.close('}')
	e.close('}')
}

// attributes appends the attributes member, unless kvs is empty.
func (e *jsonEncoder) attributes(kvs []attribute.KeyValue) {
	if len(kvs) == 0 {
		return
	}
	e.open("attributes", '[')
	for _, kv := range kvs {
		e.keyValue(kv)
	}
	e.close(']')
}

// keyValue appends kv as an element of an array of KeyValues.
func (e *jsonEncoder) keyValue(kv attribute.KeyValue) {
	e.elem()
	e.str("key", string(kv.Key))
	e.key("value")
	e.value(kv.Value)
	e.close('}')
}

// value appends v as an AnyValue object.
func (e *jsonEncoder) value(v attribute.Value) {
	e.b = append(e.b, '{')
	switch v.Type() {
	case attribute.STRING:
		e.str("stringValue", v.AsString())
	case attribute.BOOL:
		e.key("boolValue")
		e.b = strconv.AppendBool(e.b, v.AsBool())
	case attribute.INT64:
		e.int64Value(v.AsInt64())
	case attribute.FLOAT64:
		e.doubleValue(v.AsFloat64())
	case attribute.BYTESLICE:
		e.key("bytesValue")
		e.b = append(e.b, '"')
		e.b = base64.StdEncoding.AppendEncode(e.b, v.AsByteSlice())
		e.b = append(e.b, '"')
	case attribute.BOOLSLICE:
		xs := v.AsBoolSlice()
		e.array(len(xs), func(i int) {
			e.key("boolValue")
			e.b = strconv.AppendBool(e.b, xs[i])
		})
	case attribute.INT64SLICE:
		xs := v.AsInt64Slice()
		e.array(len(xs), func(i int) { e.int64Value(xs[i]) })
	case attribute.FLOAT64SLICE:
		xs := v.AsFloat64Slice()
		e.array(len(xs), func(i int) { e.doubleValue(xs[i]) })
	case attribute.STRINGSLICE:
		xs := v.AsStringSlice()
		e.array(len(xs), func(i int) { e.str("stringValue", xs[i]) })
	case attribute.SLICE:
		xs := v.AsSlice()
		e.open("arrayValue", '{')
		if len(xs) > 0 {
			e.open("values", '[')
			for _, x := range xs {
				e.sep()
				e.value(x)
			}
			e.close(']')
		}
		e.close('}')
	case attribute.MAP:
		kvs := v.AsMap()
		e.open("kvlistValue", '{')
		if len(kvs) > 0 {
			e.open("values", '[')
			for _, kv := range kvs {
				e.keyValue(kv)
			}
			e.close(']')
		}
		e.close('}')
	case attribute.EMPTY:
	default:
		e.str("stringValue", "INVALID")
	}
	e.close('}')
}

// array appends an arrayValue member of n AnyValues, the members of the
// i-th appended by member(i).
func (e *jsonEncoder) array(n int, member func(i int)) {
	e.open("arrayValue", '{')
	if n > 0 {
		e.open("values", '[')
		for i := range n {
			e.elem()
			member(i)
			e.close('}')
		}
		e.close(']')
	}
	e.close('}')
}

func (e *jsonEncoder) int64Value(v int64) {
	e.key("intValue")
	e.b = append(e.b, '"')
	e.b = strconv.AppendInt(e.b, v, 10)
	e.b = append(e.b, '"')
}

func (e *jsonEncoder) doubleValue(v float64) {
	e.key("doubleValue")
	switch {
	case math.IsNaN(v):
		e.b = append(e.b, `"NaN"`...)
	case math.IsInf(v, 1):
		e.b = append(e.b, `"Infinity"`...)
	case math.IsInf(v, -1):
		e.b = append(e.b, `"-Infinity"`...)
	default:
		e.b = strconv.AppendFloat(e.b, v, 'g', -1, 64)
	}
}
