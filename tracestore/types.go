package tracestore

import "maps"

// TraceData is one trace in the Genkit wire shape (tools-common TraceData):
// trace-level summary fields and the spans keyed by span id.
//
// DisplayName, StartTime and EndTime are pointers because the wire format
// distinguishes an absent field from a zero one: a store overwrites its
// trace-level fields only with fields that are present.
type TraceData struct {
	TraceID     string  `json:"traceId"`
	DisplayName *string `json:"displayName,omitempty"`
	// StartTime is milliseconds since the Unix epoch.
	StartTime *float64 `json:"startTime,omitempty"`
	// EndTime is milliseconds since the Unix epoch; 0 while the root runs.
	EndTime *float64            `json:"endTime,omitempty"`
	Spans   map[string]SpanData `json:"spans"`
}

// SpanData is one span in the Genkit wire shape (tools-common SpanData).
// Times are milliseconds since the Unix epoch, possibly fractional; EndTime
// is 0 while the span is still running.
type SpanData struct {
	SpanID       string  `json:"spanId"`
	TraceID      string  `json:"traceId"`
	ParentSpanID string  `json:"parentSpanId,omitempty"`
	StartTime    float64 `json:"startTime"`
	EndTime      float64 `json:"endTime"`
	// Attributes holds JSON values: string, bool, numbers, and slices or
	// maps of them.
	Attributes  map[string]any `json:"attributes"`
	DisplayName string         `json:"displayName"`
	// Links is omitted from JSON when nil and sent as [] when empty.
	Links                   []Link                 `json:"links,omitzero"`
	InstrumentationLibrary  InstrumentationLibrary `json:"instrumentationLibrary"`
	SpanKind                string                 `json:"spanKind"`
	SameProcessAsParentSpan *BoolValue             `json:"sameProcessAsParentSpan,omitempty"`
	Status                  *Status                `json:"status,omitempty"`
	TimeEvents              *TimeEvents            `json:"timeEvents,omitempty"`
	Truncated               bool                   `json:"truncated,omitempty"`
}

// Link is a link from a span to another span.
type Link struct {
	Context                *SpanContext   `json:"context,omitempty"`
	Attributes             map[string]any `json:"attributes,omitempty"`
	DroppedAttributesCount int            `json:"droppedAttributesCount,omitempty"`
}

// SpanContext identifies the target of a [Link].
type SpanContext struct {
	TraceID    string `json:"traceId"`
	SpanID     string `json:"spanId"`
	IsRemote   bool   `json:"isRemote,omitempty"`
	TraceFlags int    `json:"traceFlags"`
}

// InstrumentationLibrary names the instrumentation scope that made a span.
type InstrumentationLibrary struct {
	Name      string `json:"name"`
	Version   string `json:"version,omitempty"`
	SchemaURL string `json:"schemaUrl,omitempty"`
}

// BoolValue is a boolean wrapped in an object, as in
// sameProcessAsParentSpan: {value: true}.
type BoolValue struct {
	Value bool `json:"value"`
}

// Status is a span status in the OpenTelemetry proto numbering: 0 unset, 1
// ok, 2 error.
type Status struct {
	Code    int    `json:"code"`
	Message string `json:"message,omitempty"`
}

// Span status codes as they appear on the wire.
const (
	StatusUnset = 0
	StatusOK    = 1
	StatusError = 2
)

// TimeEvents wraps a span's events.
type TimeEvents struct {
	// TimeEvent is omitted from JSON when nil and sent as [] when empty.
	TimeEvent []TimeEvent `json:"timeEvent,omitzero"`
}

// TimeEvent is one span event.
type TimeEvent struct {
	// Time is milliseconds since the Unix epoch.
	Time       float64    `json:"time"`
	Annotation Annotation `json:"annotation"`
}

// Annotation is the payload of a [TimeEvent]: its attributes and, as
// Description, the event name (such as "exception").
type Annotation struct {
	Attributes  map[string]any `json:"attributes"`
	Description string         `json:"description"`
}

// Clone returns a deep copy of td.
func (td TraceData) Clone() TraceData {
	out := td
	out.DisplayName = clonePtr(td.DisplayName)
	out.StartTime = clonePtr(td.StartTime)
	out.EndTime = clonePtr(td.EndTime)
	if td.Spans != nil {
		out.Spans = make(map[string]SpanData, len(td.Spans))
		for id, s := range td.Spans {
			out.Spans[id] = s.Clone()
		}
	}
	return out
}

// Clone returns a deep copy of s.
func (s SpanData) Clone() SpanData {
	out := s
	out.Attributes = cloneAttrs(s.Attributes)
	if s.Links != nil {
		out.Links = make([]Link, len(s.Links))
		for i, l := range s.Links {
			out.Links[i] = Link{
				Context:                clonePtr(l.Context),
				Attributes:             cloneAttrs(l.Attributes),
				DroppedAttributesCount: l.DroppedAttributesCount,
			}
		}
	}
	out.SameProcessAsParentSpan = clonePtr(s.SameProcessAsParentSpan)
	out.Status = clonePtr(s.Status)
	if s.TimeEvents != nil {
		te := &TimeEvents{}
		if s.TimeEvents.TimeEvent != nil {
			te.TimeEvent = make([]TimeEvent, len(s.TimeEvents.TimeEvent))
			for i, e := range s.TimeEvents.TimeEvent {
				te.TimeEvent[i] = TimeEvent{
					Time: e.Time,
					Annotation: Annotation{
						Attributes:  cloneAttrs(e.Annotation.Attributes),
						Description: e.Annotation.Description,
					},
				}
			}
		}
		out.TimeEvents = te
	}
	return out
}

func clonePtr[T any](p *T) *T {
	if p == nil {
		return nil
	}
	v := *p
	return &v
}

func cloneAttrs(m map[string]any) map[string]any {
	if m == nil {
		return nil
	}
	out := make(map[string]any, len(m))
	for k, v := range m {
		out[k] = cloneValue(v)
	}
	return out
}

// cloneValue deep-copies the JSON-like values attributes hold. Scalars are
// immutable and returned as they are.
func cloneValue(v any) any {
	switch v := v.(type) {
	case map[string]any:
		return cloneAttrs(v)
	case []any:
		out := make([]any, len(v))
		for i, e := range v {
			out[i] = cloneValue(e)
		}
		return out
	case []string:
		return append([]string(nil), v...)
	case []bool:
		return append([]bool(nil), v...)
	case []int64:
		return append([]int64(nil), v...)
	case []float64:
		return append([]float64(nil), v...)
	case map[string]string:
		return maps.Clone(v)
	default:
		return v
	}
}
