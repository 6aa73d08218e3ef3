package tracestore

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"math"
	"slices"
	"strings"

	"github.com/genkit-runtime/genkit-runtime/internal/jsontext"
)

// DecodeTraceData decodes and validates a TraceData JSON document the way
// the telemetry server's TraceDataSchema does: required fields must be
// present with the right JSON types, optional fields may be absent (but not
// null), and unknown fields are ignored. Numbers in attributes keep their
// exact text (as [json.Number]). Status codes, trace flags and dropped
// attribute counts must be integers.
func DecodeTraceData(data []byte) (TraceData, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return TraceData{}, fmt.Errorf("invalid JSON: %w", err)
	}
	if dec.More() {
		return TraceData{}, errors.New("invalid JSON: data after the top-level value")
	}
	var d decoder
	td := d.traceData(v)
	if err := d.err(); err != nil {
		return TraceData{}, err
	}
	return td, nil
}

// maxIssues bounds the validation problems reported in one error.
const maxIssues = 10

// decoder converts decoded JSON to wire types, collecting zod-style issues
// ("path: problem").
type decoder struct {
	path   []string
	issues []string
	extra  int
}

func (d *decoder) err() error {
	if len(d.issues) == 0 {
		return nil
	}
	msg := strings.Join(d.issues, "; ")
	if d.extra > 0 {
		msg += fmt.Sprintf("; and %d more", d.extra)
	}
	return errors.New(msg)
}

func (d *decoder) issue(format string, args ...any) {
	if len(d.issues) >= maxIssues {
		d.extra++
		return
	}
	p := strings.Join(d.path, ".")
	if p == "" {
		p = "(root)"
	}
	d.issues = append(d.issues, p+": "+fmt.Sprintf(format, args...))
}

func (d *decoder) push(name string) { d.path = append(d.path, name) }
func (d *decoder) pop()             { d.path = d.path[:len(d.path)-1] }

// field runs fn on obj[name] with the path extended. A missing required
// field is an issue; a missing optional field is skipped.
func (d *decoder) field(obj map[string]any, name string, required bool, fn func(v any)) {
	v, ok := obj[name]
	d.push(name)
	defer d.pop()
	if !ok {
		if required {
			d.issue("Required")
		}
		return
	}
	fn(v)
}

func (d *decoder) object(v any) (map[string]any, bool) {
	m, ok := v.(map[string]any)
	if !ok {
		d.issue("Expected object, received %s", jsontext.KindOf(v))
	}
	return m, ok
}

func (d *decoder) str(v any) string {
	s, ok := v.(string)
	if !ok {
		d.issue("Expected string, received %s", jsontext.KindOf(v))
	}
	return s
}

func (d *decoder) boolean(v any) bool {
	b, ok := v.(bool)
	if !ok {
		d.issue("Expected boolean, received %s", jsontext.KindOf(v))
	}
	return b
}

func (d *decoder) number(v any) float64 {
	n, ok := v.(json.Number)
	if !ok {
		d.issue("Expected number, received %s", jsontext.KindOf(v))
		return 0
	}
	f, err := n.Float64()
	if err != nil || math.IsInf(f, 0) {
		d.issue("Number out of range")
		return 0
	}
	return f
}

func (d *decoder) integer(v any) int {
	f := d.number(v)
	if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		d.issue("Expected integer, received %v", f)
		return 0
	}
	return int(f)
}

// record validates a JSON object with values of any type.
func (d *decoder) record(v any) map[string]any {
	m, _ := d.object(v)
	return m
}

func (d *decoder) traceData(v any) TraceData {
	var td TraceData
	obj, ok := d.object(v)
	if !ok {
		return td
	}
	d.field(obj, "traceId", true, func(v any) { td.TraceID = d.str(v) })
	d.field(obj, "displayName", false, func(v any) { s := d.str(v); td.DisplayName = &s })
	d.field(obj, "startTime", false, func(v any) { f := d.number(v); td.StartTime = &f })
	d.field(obj, "endTime", false, func(v any) { f := d.number(v); td.EndTime = &f })
	d.field(obj, "spans", true, func(v any) {
		spans, ok := d.object(v)
		if !ok {
			return
		}
		td.Spans = make(map[string]SpanData, len(spans))
		for _, id := range slices.Sorted(maps.Keys(spans)) {
			d.push(id)
			td.Spans[id] = d.spanData(spans[id])
			d.pop()
		}
	})
	return td
}

func (d *decoder) spanData(v any) SpanData {
	var sd SpanData
	obj, ok := d.object(v)
	if !ok {
		return sd
	}
	d.field(obj, "spanId", true, func(v any) { sd.SpanID = d.str(v) })
	d.field(obj, "traceId", true, func(v any) { sd.TraceID = d.str(v) })
	d.field(obj, "parentSpanId", false, func(v any) { sd.ParentSpanID = d.str(v) })
	d.field(obj, "startTime", true, func(v any) { sd.StartTime = d.number(v) })
	d.field(obj, "endTime", true, func(v any) { sd.EndTime = d.number(v) })
	d.field(obj, "attributes", true, func(v any) { sd.Attributes = d.record(v) })
	d.field(obj, "displayName", true, func(v any) { sd.DisplayName = d.str(v) })
	d.field(obj, "links", false, func(v any) {
		list, ok := v.([]any)
		if !ok {
			d.issue("Expected array, received %s", jsontext.KindOf(v))
			return
		}
		sd.Links = make([]Link, len(list))
		for i, lv := range list {
			d.push(fmt.Sprint(i))
			sd.Links[i] = d.link(lv)
			d.pop()
		}
	})
	d.field(obj, "instrumentationLibrary", true, func(v any) {
		lib, ok := d.object(v)
		if !ok {
			return
		}
		il := &sd.InstrumentationLibrary
		d.field(lib, "name", true, func(v any) { il.Name = d.str(v) })
		d.field(lib, "version", false, func(v any) { il.Version = d.str(v) })
		d.field(lib, "schemaUrl", false, func(v any) { il.SchemaURL = d.str(v) })
	})
	d.field(obj, "spanKind", true, func(v any) { sd.SpanKind = d.str(v) })
	d.field(obj, "sameProcessAsParentSpan", false, func(v any) {
		o, ok := d.object(v)
		if !ok {
			return
		}
		sd.SameProcessAsParentSpan = &BoolValue{}
		d.field(o, "value", true, func(v any) { sd.SameProcessAsParentSpan.Value = d.boolean(v) })
	})
	d.field(obj, "status", false, func(v any) {
		o, ok := d.object(v)
		if !ok {
			return
		}
		sd.Status = &Status{}
		d.field(o, "code", true, func(v any) { sd.Status.Code = d.integer(v) })
		d.field(o, "message", false, func(v any) { sd.Status.Message = d.str(v) })
	})
	d.field(obj, "timeEvents", false, func(v any) {
		o, ok := d.object(v)
		if !ok {
			return
		}
		sd.TimeEvents = &TimeEvents{}
		d.field(o, "timeEvent", false, func(v any) {
			list, ok := v.([]any)
			if !ok {
				d.issue("Expected array, received %s", jsontext.KindOf(v))
				return
			}
			sd.TimeEvents.TimeEvent = make([]TimeEvent, len(list))
			for i, ev := range list {
				d.push(fmt.Sprint(i))
				sd.TimeEvents.TimeEvent[i] = d.timeEvent(ev)
				d.pop()
			}
		})
	})
	d.field(obj, "truncated", false, func(v any) { sd.Truncated = d.boolean(v) })
	return sd
}

func (d *decoder) link(v any) Link {
	var l Link
	obj, ok := d.object(v)
	if !ok {
		return l
	}
	d.field(obj, "context", false, func(v any) {
		o, ok := d.object(v)
		if !ok {
			return
		}
		c := &SpanContext{}
		l.Context = c
		d.field(o, "traceId", true, func(v any) { c.TraceID = d.str(v) })
		d.field(o, "spanId", true, func(v any) { c.SpanID = d.str(v) })
		d.field(o, "isRemote", false, func(v any) { c.IsRemote = d.boolean(v) })
		d.field(o, "traceFlags", true, func(v any) { c.TraceFlags = d.integer(v) })
	})
	d.field(obj, "attributes", false, func(v any) { l.Attributes = d.record(v) })
	d.field(obj, "droppedAttributesCount", false, func(v any) { l.DroppedAttributesCount = d.integer(v) })
	return l
}

func (d *decoder) timeEvent(v any) TimeEvent {
	var e TimeEvent
	obj, ok := d.object(v)
	if !ok {
		return e
	}
	d.field(obj, "time", true, func(v any) { e.Time = d.number(v) })
	d.field(obj, "annotation", true, func(v any) {
		o, ok := d.object(v)
		if !ok {
			return
		}
		d.field(o, "attributes", true, func(v any) { e.Annotation.Attributes = d.record(v) })
		d.field(o, "description", true, func(v any) { e.Annotation.Description = d.str(v) })
	})
	return e
}
