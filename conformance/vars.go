package conformance

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// vars holds a case's variables: the built-in ones (sink.url, ...) and
// those saved by its steps.
type vars map[string]any

// subst replaces ${name} references in every string of v. A string that
// is exactly one reference becomes the variable's value, whatever its JSON
// type; a reference inside a longer string is replaced by the value's
// text.
func (vs vars) subst(v any) (any, error) {
	switch t := v.(type) {
	case string:
		return vs.substString(t)
	case []any:
		out := make([]any, len(t))
		for i, e := range t {
			s, err := vs.subst(e)
			if err != nil {
				return nil, err
			}
			out[i] = s
		}
		return out, nil
	case map[string]any:
		out := make(map[string]any, len(t))
		for k, e := range t {
			s, err := vs.subst(e)
			if err != nil {
				return nil, err
			}
			out[k] = s
		}
		return out, nil
	}
	return v, nil
}

func (vs vars) substString(s string) (any, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	if strings.HasPrefix(s, "${") && strings.HasSuffix(s, "}") && strings.Count(s, "${") == 1 {
		name := s[2 : len(s)-1]
		v, ok := vs[name]
		if !ok {
			return nil, fmt.Errorf("undefined variable ${%s}", name)
		}
		return v, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		j := strings.IndexByte(s[i:], '}')
		if j < 0 {
			return nil, fmt.Errorf("unterminated ${ in %q", s)
		}
		name := s[i+2 : i+j]
		v, ok := vs[name]
		if !ok {
			return nil, fmt.Errorf("undefined variable ${%s}", name)
		}
		b.WriteString(s[:i])
		b.WriteString(text(v))
		s = s[i+j+1:]
	}
}

// substString is subst for a string that must stay a string.
func (vs vars) str(s string) (string, error) {
	v, err := vs.substString(s)
	if err != nil {
		return "", err
	}
	return text(v), nil
}

// text renders a value for interpolation: strings as they are, anything
// else as JSON.
func text(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// lookup returns the value at path in v. A path is a sequence of member
// names separated by dots, array indexes in brackets, and quoted member
// names in brackets for names with other characters:
// final.error.code, chunks[0].index, headers["x-genkit-trace-id"].
func lookup(v any, path string) (any, bool, error) {
	segs, err := parsePath(path)
	if err != nil {
		return nil, false, err
	}
	for _, s := range segs {
		switch t := v.(type) {
		case map[string]any:
			e, ok := t[s.key]
			if !ok || s.index >= 0 {
				return nil, false, nil
			}
			v = e
		case []any:
			if s.index < 0 || s.index >= len(t) {
				return nil, false, nil
			}
			v = t[s.index]
		default:
			return nil, false, nil
		}
	}
	return v, true, nil
}

type pathSeg struct {
	key   string
	index int // -1 for a member name
}

func parsePath(path string) ([]pathSeg, error) {
	var segs []pathSeg
	s := path
	for s != "" {
		switch {
		case s[0] == '.':
			s = s[1:]
		case s[0] == '[':
			end := strings.IndexByte(s, ']')
			if end < 0 {
				return nil, fmt.Errorf("path %q: missing ]", path)
			}
			inner := s[1:end]
			if strings.HasPrefix(inner, `"`) {
				// A quoted name may hold ']'; find the closing quote.
				q, err := strconv.QuotedPrefix(s[1:])
				if err != nil {
					return nil, fmt.Errorf("path %q: %v", path, err)
				}
				name, _ := strconv.Unquote(q)
				rest := s[1+len(q):]
				if !strings.HasPrefix(rest, "]") {
					return nil, fmt.Errorf("path %q: missing ]", path)
				}
				segs = append(segs, pathSeg{key: name, index: -1})
				s = rest[1:]
				continue
			}
			n, err := strconv.Atoi(inner)
			if err != nil || n < 0 {
				return nil, fmt.Errorf("path %q: bad index %q", path, inner)
			}
			segs = append(segs, pathSeg{index: n})
			s = s[end+1:]
		default:
			end := strings.IndexAny(s, ".[")
			if end < 0 {
				end = len(s)
			}
			segs = append(segs, pathSeg{key: s[:end], index: -1})
			s = s[end:]
		}
	}
	if len(segs) == 0 {
		return nil, fmt.Errorf("empty path")
	}
	return segs, nil
}
