package tracestore

import (
	"encoding/hex"
	"math"
	"slices"
	"strconv"
	"unicode/utf8"

	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace"
)

// AppendSpanJSON appends to dst the JSON of FromSpan(s), as
// json.Marshal would encode it but for two differences that do not change
// the value: <, > and & are not escaped (as in JSON.stringify), and object
// members are in the order the span has them rather than sorted. When
// running is set, endTime is 0: the span's state when it started, for a
// span that may have ended since. It is what an exporter posting spans
// uses instead of FromSpan and json.Marshal, without the intermediate
// maps.
func AppendSpanJSON(dst []byte, s sdktrace.ReadOnlySpan, running bool) []byte {
	sc := s.SpanContext()
	parent := s.Parent()
	dst = append(dst, `{"spanId":"`...)
	dst = appendSpanID(dst, sc.SpanID())
	dst = append(dst, `","traceId":"`...)
	dst = appendTraceID(dst, sc.TraceID())
	dst = append(dst, '"')
	if parent.IsValid() {
		dst = append(dst, `,"parentSpanId":"`...)
		dst = appendSpanID(dst, parent.SpanID())
		dst = append(dst, '"')
	}
	dst = appendTimes(dst, s, running)
	dst = append(dst, `,"attributes":`...)
	dst = appendAttrs(dst, s.Attributes())
	dst = append(dst, `,"displayName":`...)
	dst = appendString(dst, s.Name())
	dst = append(dst, `,"links":[`...)
	for i, l := range s.Links() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"context":{"traceId":"`...)
		dst = appendTraceID(dst, l.SpanContext.TraceID())
		dst = append(dst, `","spanId":"`...)
		dst = appendSpanID(dst, l.SpanContext.SpanID())
		dst = append(dst, '"')
		if l.SpanContext.IsRemote() {
			dst = append(dst, `,"isRemote":true`...)
		}
		dst = append(dst, `,"traceFlags":`...)
		dst = strconv.AppendInt(dst, int64(l.SpanContext.TraceFlags()), 10)
		dst = append(dst, '}')
		if len(l.Attributes) > 0 {
			dst = append(dst, `,"attributes":`...)
			dst = appendAttrs(dst, l.Attributes)
		}
		if l.DroppedAttributeCount != 0 {
			dst = append(dst, `,"droppedAttributesCount":`...)
			dst = strconv.AppendInt(dst, int64(l.DroppedAttributeCount), 10)
		}
		dst = append(dst, '}')
	}
	scope := s.InstrumentationScope()
	dst = append(dst, `],"instrumentationLibrary":{"name":`...)
	dst = appendString(dst, scope.Name)
	if scope.Version != "" {
		dst = append(dst, `,"version":`...)
		dst = appendString(dst, scope.Version)
	}
	if scope.SchemaURL != "" {
		dst = append(dst, `,"schemaUrl":`...)
		dst = appendString(dst, scope.SchemaURL)
	}
	dst = append(dst, `},"spanKind":`...)
	dst = appendString(dst, spanKindName(s.SpanKind()))
	dst = append(dst, `,"sameProcessAsParentSpan":{"value":`...)
	dst = strconv.AppendBool(dst, !parent.IsRemote())
	st := statusOf(s.Status())
	dst = append(dst, `},"status":{"code":`...)
	dst = strconv.AppendInt(dst, int64(st.Code), 10)
	if st.Message != "" {
		dst = append(dst, `,"message":`...)
		dst = appendString(dst, st.Message)
	}
	dst = append(dst, `},"timeEvents":{"timeEvent":[`...)
	for i, e := range s.Events() {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = append(dst, `{"time":`...)
		dst = appendFloat(dst, Millis(e.Time))
		dst = append(dst, `,"annotation":{"attributes":`...)
		dst = appendAttrs(dst, e.Attributes)
		dst = append(dst, `,"description":`...)
		dst = appendString(dst, e.Name)
		dst = append(dst, "}}"...)
	}
	return append(dst, "]}}"...)
}

// AppendTraceJSON appends to dst the JSON of the TraceData that holds n
// spans of the trace traceID, span(i) giving the i-th and whether it is to
// be written as it was when it started (see AppendSpanJSON). As in the
// TraceData the Genkit exporters post, the trace-level displayName,
// startTime and endTime are present only when the root span is among
// them; the spans are in the order given.
func AppendTraceJSON(dst []byte, traceID string, n int, span func(i int) (s sdktrace.ReadOnlySpan, running bool)) []byte {
	dst = append(dst, `{"traceId":`...)
	dst = appendString(dst, traceID)
	for i := range n {
		s, running := span(i)
		if s.Parent().IsValid() {
			continue
		}
		dst = append(dst, `,"displayName":`...)
		dst = appendString(dst, s.Name())
		dst = appendTimes(dst, s, running)
	}
	dst = append(dst, `,"spans":{`...)
	for i := range n {
		if i > 0 {
			dst = append(dst, ',')
		}
		s, running := span(i)
		dst = append(dst, '"')
		dst = appendSpanID(dst, s.SpanContext().SpanID())
		dst = append(dst, `":`...)
		dst = AppendSpanJSON(dst, s, running)
	}
	return append(dst, "}}"...)
}

// appendTimes appends the startTime and endTime members of s, endTime 0
// when running is set.
func appendTimes(dst []byte, s sdktrace.ReadOnlySpan, running bool) []byte {
	dst = append(dst, `,"startTime":`...)
	dst = appendFloat(dst, Millis(s.StartTime()))
	dst = append(dst, `,"endTime":`...)
	if running {
		return append(dst, '0')
	}
	return appendFloat(dst, Millis(s.EndTime()))
}

// appendAttrs appends attributes as a JSON object; of repeated keys, the
// last counts, as in attrsToMap.
func appendAttrs(dst []byte, kvs []attribute.KeyValue) []byte {
	dst = append(dst, '{')
	first := true
	for i, kv := range kvs {
		if slices.ContainsFunc(kvs[i+1:], func(o attribute.KeyValue) bool { return o.Key == kv.Key }) {
			continue
		}
		if !first {
			dst = append(dst, ',')
		}
		first = false
		dst = appendString(dst, string(kv.Key))
		dst = append(dst, ':')
		dst = appendAttrValue(dst, kv.Value)
	}
	return append(dst, '}')
}

// appendAttrValue appends the JSON of attrValue(v).
func appendAttrValue(dst []byte, v attribute.Value) []byte {
	switch v.Type() {
	case attribute.BOOL:
		return strconv.AppendBool(dst, v.AsBool())
	case attribute.INT64:
		return strconv.AppendInt(dst, v.AsInt64(), 10)
	case attribute.FLOAT64:
		return appendFloat(dst, v.AsFloat64())
	case attribute.STRING:
		return appendString(dst, v.AsString())
	case attribute.BOOLSLICE:
		return appendList(dst, v.AsBoolSlice(), strconv.AppendBool)
	case attribute.INT64SLICE:
		return appendList(dst, v.AsInt64Slice(), func(dst []byte, n int64) []byte { return strconv.AppendInt(dst, n, 10) })
	case attribute.FLOAT64SLICE:
		// attrValue makes a new slice of these two kinds: never nil.
		return appendList(dst, orEmpty(v.AsFloat64Slice()), appendFloat)
	case attribute.STRINGSLICE:
		return appendList(dst, v.AsStringSlice(), appendString)
	case attribute.SLICE:
		return appendList(dst, orEmpty(v.AsSlice()), appendAttrValue)
	case attribute.MAP:
		return appendAttrs(dst, v.AsMap())
	case attribute.EMPTY:
		return append(dst, "null"...)
	default:
		return appendString(dst, v.String())
	}
}

// appendList appends a JSON array of xs, each appended by one. A nil slice
// is null, as json.Marshal encodes it.
func appendList[T any](dst []byte, xs []T, one func([]byte, T) []byte) []byte {
	if xs == nil {
		return append(dst, "null"...)
	}
	dst = append(dst, '[')
	for i, x := range xs {
		if i > 0 {
			dst = append(dst, ',')
		}
		dst = one(dst, x)
	}
	return append(dst, ']')
}

func orEmpty[T any](xs []T) []T {
	if xs == nil {
		return []T{}
	}
	return xs
}

// appendFloat appends f as a JSON number in the form JSON.stringify and
// json.Marshal give; NaN and the infinities, which JSON cannot carry, as
// their string form (see jsonFloat).
func appendFloat(dst []byte, f float64) []byte {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return appendString(dst, strconv.FormatFloat(f, 'g', -1, 64))
	}
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	dst = strconv.AppendFloat(dst, f, format, -1, 64)
	if format == 'e' {
		// 1e-07 is written 1e-7.
		if n := len(dst); n >= 4 && dst[n-4] == 'e' && dst[n-3] == '-' && dst[n-2] == '0' {
			dst[n-2] = dst[n-1]
			dst = dst[:n-1]
		}
	}
	return dst
}

// appendString appends s as a JSON string. Bytes that are not UTF-8 become
// U+FFFD, as json.Marshal makes them; <, > and & are kept as they are.
func appendString(dst []byte, s string) []byte {
	const hexDigits = "0123456789abcdef"
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch c {
			case '"', '\\':
				dst = append(dst, '\\', c)
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i++
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

func appendSpanID(dst []byte, id trace.SpanID) []byte   { return hex.AppendEncode(dst, id[:]) }
func appendTraceID(dst []byte, id trace.TraceID) []byte { return hex.AppendEncode(dst, id[:]) }
