package conformance

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Mismatch is one difference between what a case expects and what the
// runtime did.
type Mismatch struct {
	// Path locates the value in the step's observation, such as
	// final.error.code or headers["x-genkit-version"].
	Path string `json:"path"`
	// Want is the expected pattern, as JSON.
	Want string `json:"want"`
	// Got is the observed value, as JSON (cut when long), or "<absent>".
	Got string `json:"got"`
	// Reason says what is wrong when Want and Got alone do not.
	Reason string `json:"reason,omitempty"`
}

// String renders the mismatch as a small diff.
func (m Mismatch) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "at %s", m.Path)
	if m.Reason != "" {
		fmt.Fprintf(&b, ": %s", m.Reason)
	}
	fmt.Fprintf(&b, "\n- want: %s\n+ got:  %s", m.Want, m.Got)
	return b.String()
}

// Placeholders usable anywhere in a pattern, as whole strings.
var placeholders = map[string]func(v any) bool{
	"<any>":      func(any) bool { return true },
	"<string>":   func(v any) bool { _, ok := v.(string); return ok },
	"<nonempty>": func(v any) bool { s, ok := v.(string); return ok && s != "" },
	"<number>":   func(v any) bool { _, ok := v.(json.Number); return ok },
	"<int>":      func(v any) bool { n, ok := v.(json.Number); return ok && isInt(n) },
	"<bool>":     func(v any) bool { _, ok := v.(bool); return ok },
	"<object>":   func(v any) bool { _, ok := v.(map[string]any); return ok },
	"<array>":    func(v any) bool { _, ok := v.([]any); return ok },
	"<null>":     func(v any) bool { return v == nil },
	"<traceId>":  func(v any) bool { return isHexID(v, 32) },
	"<spanId>":   func(v any) bool { return isHexID(v, 16) },
}

// placeholderAbsent matches a member or value that is not there.
const placeholderAbsent = "<absent>"

func isInt(n json.Number) bool {
	_, err := strconv.ParseInt(n.String(), 10, 64)
	return err == nil
}

// isHexID reports whether v is a string of n lowercase hex digits, not all
// zero: a valid W3C trace or span id.
func isHexID(v any, n int) bool {
	s, ok := v.(string)
	if !ok || len(s) != n {
		return false
	}
	zero := true
	for _, c := range s {
		switch {
		case c == '0':
		case '1' <= c && c <= '9', 'a' <= c && c <= 'f':
			zero = false
		default:
			return false
		}
	}
	return !zero
}

// matcher matches patterns against observed values. Both are JSON values
// decoded with json.Decoder.UseNumber: nil, bool, json.Number, string,
// []any and map[string]any.
type matcher struct {
	root any // the whole observation, for $same
	out  []Mismatch
}

// Match matches got against the pattern pat and returns the mismatches, in
// path order; none means got matches. See the package documentation for
// the pattern language.
func Match(pat, got any) []Mismatch {
	m := matcher{root: got}
	m.match("", pat, got, true, false)
	return m.out
}

func (m *matcher) fail(path string, pat, got any, present bool, reason string) {
	g := placeholderAbsent
	if present {
		g = render(got, 300)
	}
	if path == "" {
		path = "(root)"
	}
	m.out = append(m.out, Mismatch{Path: path, Want: render(pat, 300), Got: g, Reason: reason})
}

// matches reports whether got matches pat, without recording anything.
func (m *matcher) matches(pat, got any, present, exact bool) bool {
	sub := matcher{root: m.root}
	sub.match("", pat, got, present, exact)
	return len(sub.out) == 0
}

// match matches got (present says whether it exists at all) against pat.
// exact forbids object members the pattern does not name.
func (m *matcher) match(path string, pat, got any, present, exact bool) {
	switch p := pat.(type) {
	case string:
		if p == placeholderAbsent {
			if present {
				m.fail(path, pat, got, present, "should be absent")
			}
			return
		}
		if !present {
			m.fail(path, pat, got, present, "missing")
			return
		}
		if f, ok := placeholders[p]; ok {
			if !f(got) {
				m.fail(path, pat, got, present, "")
			}
			return
		}
		if s, ok := got.(string); !ok || s != p {
			m.fail(path, pat, got, present, "")
		}
	case map[string]any:
		if op, arg, ok := operator(p); ok {
			m.operator(path, op, arg, pat, got, present, exact)
			return
		}
		if !present {
			m.fail(path, pat, got, present, "missing")
			return
		}
		g, ok := got.(map[string]any)
		if !ok {
			m.fail(path, pat, got, present, "want an object")
			return
		}
		for _, k := range sortedKeys(p) {
			v, ok := g[k]
			m.match(joinPath(path, k), p[k], v, ok, exact)
		}
		if exact {
			for _, k := range sortedKeys(g) {
				if _, ok := p[k]; !ok {
					m.fail(joinPath(path, k), placeholderAbsent, g[k], true, "unexpected member")
				}
			}
		}
	case []any:
		if !present {
			m.fail(path, pat, got, present, "missing")
			return
		}
		g, ok := got.([]any)
		if !ok {
			m.fail(path, pat, got, present, "want an array")
			return
		}
		if len(g) != len(p) {
			m.fail(path, pat, got, present, fmt.Sprintf("want %d elements, got %d", len(p), len(g)))
			return
		}
		for i := range p {
			m.match(fmt.Sprintf("%s[%d]", path, i), p[i], g[i], true, exact)
		}
	case json.Number:
		if !present {
			m.fail(path, pat, got, present, "missing")
			return
		}
		if n, ok := got.(json.Number); !ok || !numEqual(p, n) {
			m.fail(path, pat, got, present, "")
		}
	default: // nil, bool
		if !present || got != pat {
			m.fail(path, pat, got, present, missingReason(present))
		}
	}
}

func missingReason(present bool) string {
	if present {
		return ""
	}
	return "missing"
}

// operator reports whether p is an operator object: exactly one member,
// whose name starts with '$'.
func operator(p map[string]any) (string, any, bool) {
	if len(p) != 1 {
		return "", nil, false
	}
	for k, v := range p {
		if strings.HasPrefix(k, "$") {
			return k, v, true
		}
	}
	return "", nil, false
}

// operators lists the operator names, for validation.
var operators = []string{"$exact", "$literal", "$same", "$regex", "$contains", "$each", "$len", "$gt", "$gte", "$lt", "$lte",
	"$range", "$in", "$not", "$anyOf", "$allOf", "$json", "$keyed", "$keys"}

func (m *matcher) operator(path, op string, arg, pat, got any, present, exact bool) {
	// Operators that may accept an absent value.
	switch op {
	case "$not":
		if m.matches(arg, got, present, exact) {
			m.fail(path, pat, got, present, "matches what it must not")
		}
		return
	case "$anyOf", "$in":
		for _, alt := range arg.([]any) {
			if m.matches(alt, got, present, exact) {
				return
			}
		}
		m.fail(path, pat, got, present, "matches none of the alternatives")
		return
	case "$allOf":
		for _, alt := range arg.([]any) {
			m.match(path, alt, got, present, exact)
		}
		return
	case "$exact":
		m.match(path, arg, got, present, true)
		return
	case "$literal":
		if !present || !reflect.DeepEqual(arg, got) {
			m.fail(path, pat, got, present, missingReason(present))
		}
		return
	case "$same":
		want, ok, _ := lookup(m.root, arg.(string))
		if !ok {
			m.fail(path, pat, got, present, arg.(string)+" is absent")
			return
		}
		if !present || !reflect.DeepEqual(want, got) {
			m.fail(path, pat, got, present, "differs from "+render(want, 100))
		}
		return
	}
	if !present {
		m.fail(path, pat, got, present, "missing")
		return
	}
	switch op {
	case "$regex":
		s, ok := got.(string)
		if !ok || !regexp.MustCompile(arg.(string)).MatchString(s) {
			m.fail(path, pat, got, present, "")
		}
	case "$contains":
		switch g := got.(type) {
		case string:
			if s, ok := arg.(string); !ok || !strings.Contains(g, s) {
				m.fail(path, pat, got, present, "")
			}
		case []any:
			for _, e := range g {
				if m.matches(arg, e, true, exact) {
					return
				}
			}
			m.fail(path, pat, got, present, "no element matches")
		default:
			m.fail(path, pat, got, present, "want a string or an array")
		}
	case "$each":
		switch g := got.(type) {
		case []any:
			for i, e := range g {
				m.match(fmt.Sprintf("%s[%d]", path, i), arg, e, true, exact)
			}
		case map[string]any:
			for _, k := range sortedKeys(g) {
				m.match(joinPath(path, k), arg, g[k], true, exact)
			}
		default:
			m.fail(path, pat, got, present, "want an array or an object")
		}
	case "$len":
		var n int
		switch g := got.(type) {
		case string:
			n = len(g)
		case []any:
			n = len(g)
		case map[string]any:
			n = len(g)
		default:
			m.fail(path, pat, got, present, "want a string, an array or an object")
			return
		}
		m.match(path+".length", arg, json.Number(strconv.Itoa(n)), true, exact)
	case "$gt", "$gte", "$lt", "$lte":
		g, ok := number(got)
		a, _ := number(arg)
		if !ok || !compare(op, g, a) {
			m.fail(path, pat, got, present, "")
		}
	case "$range":
		r := arg.([]any)
		g, ok := number(got)
		lo, _ := number(r[0])
		hi, _ := number(r[1])
		if !ok || g < lo || g > hi {
			m.fail(path, pat, got, present, "out of range")
		}
	case "$json":
		s, ok := got.(string)
		if !ok {
			m.fail(path, pat, got, present, "want a string holding JSON")
			return
		}
		v, err := decodeJSON([]byte(s))
		if err != nil {
			m.fail(path, pat, got, present, "not JSON: "+err.Error())
			return
		}
		m.match(path+"(json)", arg, v, true, exact)
	case "$keyed":
		field := arg.(string)
		g, ok := got.(map[string]any)
		if !ok {
			m.fail(path, pat, got, present, "want an object")
			return
		}
		for _, k := range sortedKeys(g) {
			e, _ := g[k].(map[string]any)
			if v, ok := e[field].(string); !ok || v != k {
				m.fail(joinPath(joinPath(path, k), field), k, e[field], ok, "must equal the member name")
			}
		}
	case "$keys":
		g, ok := got.(map[string]any)
		if !ok {
			m.fail(path, pat, got, present, "want an object")
			return
		}
		keys := make([]any, 0, len(g))
		for _, k := range sortedKeys(g) {
			keys = append(keys, k)
		}
		m.match(path+".keys", arg, keys, true, exact)
	}
}

func compare(op string, a, b float64) bool {
	switch op {
	case "$gt":
		return a > b
	case "$gte":
		return a >= b
	case "$lt":
		return a < b
	}
	return a <= b
}

func number(v any) (float64, bool) {
	n, ok := v.(json.Number)
	if !ok {
		return 0, false
	}
	f, err := n.Float64()
	return f, err == nil
}

// numEqual compares two JSON numbers by value: exactly when both are
// integers, else as float64.
func numEqual(a, b json.Number) bool {
	ai, err1 := strconv.ParseInt(a.String(), 10, 64)
	bi, err2 := strconv.ParseInt(b.String(), 10, 64)
	if err1 == nil && err2 == nil {
		return ai == bi
	}
	af, err1 := a.Float64()
	bf, err2 := b.Float64()
	return err1 == nil && err2 == nil && (af == bf || math.Abs(af-bf) <= 1e-9*math.Max(math.Abs(af), math.Abs(bf)))
}

// checkPattern reports an error for malformed operators, so a broken case
// file fails when it is loaded rather than when it runs.
func checkPattern(pat any) error {
	switch p := pat.(type) {
	case map[string]any:
		op, arg, ok := operator(p)
		if !ok {
			for _, k := range sortedKeys(p) {
				if strings.HasPrefix(k, "$") && len(p) > 1 {
					return fmt.Errorf("operator %s must be the only member of its object", k)
				}
				if err := checkPattern(p[k]); err != nil {
					return fmt.Errorf("%s: %w", k, err)
				}
			}
			return nil
		}
		if !slices.Contains(operators, op) {
			return fmt.Errorf("unknown operator %s", op)
		}
		switch op {
		case "$regex":
			s, ok := arg.(string)
			if !ok {
				return fmt.Errorf("$regex wants a string")
			}
			if _, err := regexp.Compile(s); err != nil {
				return fmt.Errorf("$regex: %w", err)
			}
		case "$keyed":
			if _, ok := arg.(string); !ok {
				return fmt.Errorf("$keyed wants a member name")
			}
		case "$literal":
		case "$same":
			s, ok := arg.(string)
			if !ok {
				return fmt.Errorf("$same wants a path")
			}
			if _, err := parsePath(s); err != nil {
				return fmt.Errorf("$same: %w", err)
			}
		case "$gt", "$gte", "$lt", "$lte":
			if _, ok := arg.(json.Number); !ok {
				return fmt.Errorf("%s wants a number", op)
			}
		case "$range":
			r, ok := arg.([]any)
			if !ok || len(r) != 2 {
				return fmt.Errorf("$range wants [low, high]")
			}
			for _, e := range r {
				if _, ok := e.(json.Number); !ok {
					return fmt.Errorf("$range wants [low, high]")
				}
			}
		case "$anyOf", "$allOf", "$in":
			alts, ok := arg.([]any)
			if !ok || len(alts) == 0 {
				return fmt.Errorf("%s wants a non-empty array", op)
			}
			for _, a := range alts {
				if err := checkPattern(a); err != nil {
					return err
				}
			}
		default:
			return checkPattern(arg)
		}
	case []any:
		for _, e := range p {
			if err := checkPattern(e); err != nil {
				return err
			}
		}
	case string:
		if strings.HasPrefix(p, "<") && strings.HasSuffix(p, ">") && p != placeholderAbsent {
			if _, ok := placeholders[p]; !ok && isPlaceholderName(p) {
				return fmt.Errorf("unknown placeholder %s", p)
			}
		}
	}
	return nil
}

// isPlaceholderName reports whether s looks like a placeholder, <word>,
// rather than text that happens to be in angle brackets.
func isPlaceholderName(s string) bool {
	inner := s[1 : len(s)-1]
	if inner == "" {
		return false
	}
	for _, c := range inner {
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z') {
			return false
		}
	}
	return true
}

// joinPath appends a member name to a path, quoting names that are not
// plain identifiers.
func joinPath(path, key string) string {
	plain := key != ""
	for i, c := range key {
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			plain = false
			break
		}
	}
	if !plain {
		return path + "[" + strconv.Quote(key) + "]"
	}
	if path == "" {
		return key
	}
	return path + "." + key
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// decodeJSON decodes one JSON value with numbers as json.Number. Trailing
// data is an error.
func decodeJSON(data []byte) (any, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, err
	}
	if _, err := dec.Token(); err == nil {
		return nil, fmt.Errorf("unexpected data after the JSON value")
	}
	return v, nil
}

// normalize converts a Go value to the generic JSON form patterns are
// matched against. Values already in that form, and ints, are converted
// in place of a round trip through JSON, which for a large body would
// copy every string twice.
func normalize(v any) any {
	switch t := v.(type) {
	case nil, bool, json.Number:
		return v
	case string:
		if utf8.ValidString(t) {
			return v
		}
	case int:
		return json.Number(strconv.Itoa(t))
	case int64:
		return json.Number(strconv.FormatInt(t, 10))
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = normalize(e)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = normalize(e)
		}
		return out
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprintf("<unencodable: %v>", err)
	}
	out, err := decodeJSON(b)
	if err != nil {
		return fmt.Sprintf("<undecodable: %v>", err)
	}
	return out
}

// render encodes v as compact JSON, cutting long strings and the result to
// about max bytes.
func render(v any, max int) string {
	v = shorten(v, max)
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return fmt.Sprint(v)
	}
	s := strings.TrimSuffix(b.String(), "\n")
	if len(s) > max {
		s = cut(s, max) + "…"
	}
	return s
}

// shorten returns v with strings longer than max cut.
func shorten(v any, max int) any {
	switch t := v.(type) {
	case string:
		if len(t) > max {
			return cut(t, max) + fmt.Sprintf("…(%d bytes)", len(t))
		}
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			out[i] = shorten(e, max)
		}
		return out
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			out[k] = shorten(e, max)
		}
		return out
	}
	return v
}

// cut returns at most n bytes of s, not splitting a UTF-8 sequence.
func cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
