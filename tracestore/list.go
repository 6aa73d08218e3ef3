package tracestore

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// DefaultListLimit is the page size of [Store.List] when the query sets
// none, as in the telemetry server.
const DefaultListLimit = 10

// Query selects a page of traces for [Store.List].
type Query struct {
	// Limit is the page size. If zero or negative, DefaultListLimit.
	Limit int
	// ContinuationToken is the token of a previous [ListResult]; empty for
	// the first page. A token that does not start with a decimal integer
	// (or starts with a negative one) yields an empty page.
	ContinuationToken string
	// Filter restricts the listed traces; nil lists all.
	Filter *Filter
}

// ListResult is one page of traces, in the wire shape of GET /api/traces.
type ListResult struct {
	// Traces holds the page, newest root start first. Each trace carries
	// only its root span, with string attributes longer than 1000
	// characters cut to 1000 and suffixed with "...".
	Traces []TraceData `json:"traces"`
	// ContinuationToken fetches the next page; empty on the last page.
	ContinuationToken string `json:"continuationToken,omitempty"`
}

// Filter is the telemetry server's TraceQueryFilter. Each map is keyed by an
// index field:
//
//	id      the trace id (string)
//	type    the root's genkit:metadata:subtype, else genkit:type, else "UNKNOWN"
//	start   the root's start time in ms (number; absent when 0)
//	end     the root's end time in ms (number; absent while running)
//	name    the root's display name (string; absent when empty)
//	status  the root's status code (number), or "UNKNOWN" without a status;
//	        absent when the root has no display name
//	genkitx:<k>  each genkitx:* attribute of the root, as a string
//
// All conditions must hold. Eq and Neq values are a string, a number or a
// list of them (a list means "one of"); equality is strict, so the string
// "2" does not equal the number 2, and a missing field equals nothing. Gt,
// Gte, Lt and Lte hold only for numeric fields. Contains is a
// case-insensitive substring test on string fields; a list means "any of".
type Filter struct {
	Eq       map[string]any     `json:"eq,omitempty"`
	Neq      map[string]any     `json:"neq,omitempty"`
	Gt       map[string]float64 `json:"gt,omitempty"`
	Gte      map[string]float64 `json:"gte,omitempty"`
	Lt       map[string]float64 `json:"lt,omitempty"`
	Lte      map[string]float64 `json:"lte,omitempty"`
	Contains map[string]any     `json:"contains,omitempty"`
}

// ParseFilter decodes and validates a TraceQueryFilter JSON object.
func ParseFilter(data []byte) (*Filter, error) {
	data = bytes.TrimSpace(data)
	if len(data) == 0 || data[0] != '{' {
		return nil, errors.New("filter: expected an object")
	}
	var f Filter
	if err := json.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("filter: %w", err)
	}
	for _, m := range []struct {
		name string
		vals map[string]any
	}{{"eq", f.Eq}, {"neq", f.Neq}, {"contains", f.Contains}} {
		for k, v := range m.vals {
			if !validFilterValue(v) {
				return nil, fmt.Errorf("filter: %s.%s: expected a string, a number or an array of them", m.name, k)
			}
		}
	}
	return &f, nil
}

func validFilterValue(v any) bool {
	if list, ok := asList(v); ok {
		for _, e := range list {
			if _, ok := toScalar(e); !ok {
				return false
			}
		}
		return true
	}
	_, ok := toScalar(v)
	return ok
}

// scalar is an index field value or filter operand: a string or a number.
type scalar struct {
	str   string
	num   float64
	isNum bool
}

func strScalar(s string) scalar  { return scalar{str: s} }
func numScalar(f float64) scalar { return scalar{num: f, isNum: true} }

func toScalar(v any) (scalar, bool) {
	switch v := v.(type) {
	case string:
		return strScalar(v), true
	case float64:
		return numScalar(v), true
	case float32:
		return numScalar(float64(v)), true
	case int:
		return numScalar(float64(v)), true
	case int64:
		return numScalar(float64(v)), true
	case int32:
		return numScalar(float64(v)), true
	case json.Number:
		f, err := v.Float64()
		return numScalar(f), err == nil
	}
	return scalar{}, false
}

// indexEntry holds a trace's index fields (see [Filter]) but its id,
// computed from its root span when a batch with a root span is saved.
type indexEntry struct {
	// typ is the type field.
	typ string
	// name is the root's display name; the name and status fields are
	// absent when it is empty.
	name string
	// start and end are the root's times; the fields are absent when 0.
	start, end float64
	// status is the root's status code, if hasStatus.
	status    int
	hasStatus bool
	// genkitx are the genkitx:* fields, in no particular order.
	genkitx []indexField
}

// indexField is one genkitx:* field of an [indexEntry].
type indexField struct{ key, val string }

// field returns t's index field k, or false if t has none.
func (t *storedTrace) field(k string) (scalar, bool) {
	e := &t.idx
	switch k {
	case "id":
		return strScalar(t.id), true
	case "type":
		return strScalar(e.typ), true
	case "start":
		return numScalar(e.start), e.start != 0
	case "end":
		return numScalar(e.end), e.end != 0
	case "name":
		return strScalar(e.name), e.name != ""
	case "status":
		if e.name == "" {
			return scalar{}, false
		}
		if !e.hasStatus {
			return strScalar("UNKNOWN"), true
		}
		return numScalar(float64(e.status)), true
	}
	for _, f := range e.genkitx {
		if f.key == k {
			return strScalar(f.val), true
		}
	}
	return scalar{}, false
}

// buildIndex computes t's index entry like the telemetry server's
// Index.add, from the first root span in insertion order.
func buildIndex(t *storedTrace) indexEntry {
	var e indexEntry
	root := t.rootLocked()
	e.typ = "UNKNOWN"
	if root == nil {
		return e
	}
	var subtype, typ any
	for k, r := range root.attrs() {
		switch {
		case k == "genkit:metadata:subtype":
			subtype = r.value()
		case k == "genkit:type":
			typ = r.value()
		case strings.HasPrefix(k, "genkitx:"):
			e.genkitx = append(e.genkitx, indexField{key: k, val: jsString(r.value())})
		}
	}
	if jsTruthy(subtype) {
		e.typ = jsString(subtype)
	} else if jsTruthy(typ) {
		e.typ = jsString(typ)
	}
	h := root.head()
	e.start, e.end, e.name = root.start, root.end, h.displayName
	if h.flags&spanStatus != 0 {
		e.status, e.hasStatus = h.statusCode, true
	}
	return e
}

// rootLocked returns the first root span of t in insertion order, or nil.
func (t *storedTrace) rootLocked() *storedSpan {
	for i := range t.spans {
		if t.spans[i].parent() == "" {
			return &t.spans[i]
		}
	}
	return nil
}

// jsTruthy reports whether a JSON value is truthy in JavaScript.
func jsTruthy(v any) bool {
	switch v := v.(type) {
	case nil:
		return false
	case string:
		return v != ""
	case bool:
		return v
	case float64:
		return v != 0 && v == v
	case int64:
		return v != 0
	case int:
		return v != 0
	case json.Number:
		f, err := v.Float64()
		return err != nil || f != 0
	}
	return true
}

// List returns one page of the indexed traces (those whose root span has
// been stored), sorted by root start time, newest first; traces with equal
// start times are ordered most recently indexed first.
//
// The telemetry server keeps one index line per saved root and filters the
// lines before removing duplicates, so an earlier state of a trace can
// match a filter there; this store matches the latest state only.
func (s *Store) List(q Query) ListResult {
	limit := q.Limit
	if limit <= 0 {
		limit = DefaultListLimit
	}
	offset := 0
	if q.ContinuationToken != "" {
		n, ok := jsParseInt(q.ContinuationToken)
		if !ok || n < 0 {
			return ListResult{Traces: []TraceData{}}
		}
		offset = n
	}

	s.mu.Lock()
	defer s.mu.Unlock()
	s.materializeLocked()
	s.sortIndexLocked()
	res := ListResult{Traces: []TraceData{}}
	matched := 0
	for _, t := range s.indexed {
		if !q.Filter.match(t) {
			continue
		}
		if matched >= offset+limit {
			// There is at least one more match beyond this page.
			res.ContinuationToken = strconv.Itoa(offset + limit)
			break
		}
		if matched >= offset {
			res.Traces = append(res.Traces, t.listCopyLocked())
		}
		matched++
	}
	return res
}

// sortIndexLocked drops evicted traces from the index and sorts it.
func (s *Store) sortIndexLocked() {
	if !s.indexDirty {
		return
	}
	s.indexed = slices.DeleteFunc(s.indexed, func(t *storedTrace) bool { return t.evicted })
	s.indexEvicted = 0
	slices.SortFunc(s.indexed, func(a, b *storedTrace) int {
		return cmp.Or(cmp.Compare(b.idx.start, a.idx.start), cmp.Compare(b.idxSeq, a.idxSeq))
	})
	s.indexDirty = false
}

// listCopyLocked returns t as listed: trace-level fields and a copy of its
// first root span with long string attributes truncated.
func (t *storedTrace) listCopyLocked() TraceData {
	td := t.fieldsLocked()
	td.Spans = map[string]SpanData{}
	if sp := t.rootLocked(); sp != nil {
		root := sp.data(t.id, nil)
		for k, v := range root.Attributes {
			if str, ok := v.(string); ok {
				if cut, ok := truncateJS(str, maxListAttrLen); ok {
					root.Attributes[k] = cut
				}
			}
		}
		td.Spans[sp.id()] = root
	}
	return td
}

// match reports whether the index fields of t satisfy f, as the telemetry
// server's isFilterMatch. A nil filter matches everything.
func (f *Filter) match(t *storedTrace) bool {
	if f == nil {
		return true
	}
	for k, fv := range f.Eq {
		v, ok := t.field(k)
		if !ok || !oneOf(v, fv) {
			return false
		}
	}
	for k, fv := range f.Neq {
		if v, ok := t.field(k); ok && oneOf(v, fv) {
			return false
		}
	}
	numCmp := func(m map[string]float64, pass func(v, bound float64) bool) bool {
		for k, bound := range m {
			v, ok := t.field(k)
			if !ok || !v.isNum || !pass(v.num, bound) {
				return false
			}
		}
		return true
	}
	if !numCmp(f.Gt, func(v, b float64) bool { return v > b }) ||
		!numCmp(f.Gte, func(v, b float64) bool { return v >= b }) ||
		!numCmp(f.Lt, func(v, b float64) bool { return v < b }) ||
		!numCmp(f.Lte, func(v, b float64) bool { return v <= b }) {
		return false
	}
	for k, fv := range f.Contains {
		v, ok := t.field(k)
		if !ok || v.isNum {
			return false
		}
		hay := strings.ToLower(v.str)
		var match bool
		if list, ok := asList(fv); ok {
			match = slices.ContainsFunc(list, func(e any) bool {
				return strings.Contains(hay, strings.ToLower(jsString(e)))
			})
		} else {
			match = strings.Contains(hay, strings.ToLower(jsString(fv)))
		}
		if !match {
			return false
		}
	}
	return true
}

// oneOf reports whether v strictly equals fv, or one of its elements when
// fv is a list.
func oneOf(v scalar, fv any) bool {
	if list, ok := asList(fv); ok {
		return slices.ContainsFunc(list, func(e any) bool { return strictEq(v, e) })
	}
	return strictEq(v, fv)
}

func strictEq(v scalar, fv any) bool {
	s, ok := toScalar(fv)
	return ok && s == v
}

// asList returns a list filter operand as []any.
func asList(v any) ([]any, bool) {
	switch v := v.(type) {
	case []any:
		return v, true
	case []string:
		return toAnys(v), true
	case []float64:
		return toAnys(v), true
	case []int:
		return toAnys(v), true
	}
	return nil, false
}

func toAnys[T any](s []T) []any {
	out := make([]any, len(s))
	for i, e := range s {
		out[i] = e
	}
	return out
}
