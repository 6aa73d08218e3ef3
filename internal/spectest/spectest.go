// Package spectest helps tests compare hand-written decoders of the wire
// types with the schemas of package spec: Variants derives, from a valid
// message, messages that break it one member at a time, and Agree checks
// that a decoder accepts exactly the variants a schema accepts.
package spectest

import (
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/genkit-runtime/genkit-runtime/spec"
	"github.com/google/jsonschema-go/jsonschema"
)

// Variant is a message derived from another, and how.
type Variant struct {
	// Change says what was changed, such as `spans.s1.startTime = "x"`.
	Change string
	// Data is the message.
	Data []byte
}

// replacements are the values a member is set to, one of each JSON type.
var replacements = []struct {
	name  string
	value any
}{
	{"null", nil},
	{`"x"`, "x"},
	{"1.5", 1.5},
	{"2", 2},
	{"true", true},
	{"[]", []any{}},
	{"{}", map[string]any{}},
	{`[null]`, []any{nil}},
	{`{"k":null}`, map[string]any{"k": nil}},
}

// Variants returns msg (a JSON object) itself, then, for each member at
// every depth of objects and arrays, msg with that member removed and
// with it replaced by a value of each JSON type, and msg with an extra
// member in each object.
func Variants(msg []byte) ([]Variant, error) {
	var root any
	if err := json.Unmarshal(msg, &root); err != nil {
		return nil, err
	}
	out := []Variant{{Change: "(none)", Data: msg}}
	var walk func(path string, v any, set func(any), del func())
	emit := func(change string) {
		b, err := json.Marshal(root)
		if err != nil {
			panic(err)
		}
		out = append(out, Variant{Change: change, Data: b})
	}
	walk = func(path string, v any, set func(any), del func()) {
		if set != nil {
			for _, r := range replacements {
				set(r.value)
				emit(path + " = " + r.name)
			}
			set(v)
		}
		if del != nil {
			del()
			emit("delete " + path)
			set(v)
		}
		switch t := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(t))
			for k := range t {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			t["x-extra"] = "extra"
			emit(path + ".x-extra added")
			delete(t, "x-extra")
			for _, k := range keys {
				child := t[k]
				walk(path+"."+k, child, func(nv any) { t[k] = nv }, func() { delete(t, k) })
			}
		case []any:
			for i := range t {
				walk(fmt.Sprintf("%s[%d]", path, i), t[i], func(nv any) { t[i] = nv }, nil)
			}
		}
	}
	walk("$", root, nil, nil)
	return out, nil
}

// Agree checks that decode accepts a variant of msg exactly when the named
// schema does, except for the changes listed in differ, on which the
// decoder knowingly departs from the schema (each with its reason, for the
// failure message; every one must occur). It reports every disagreement.
func Agree(t *testing.T, schema string, msg string, decode func([]byte) error, differ map[string]string) {
	t.Helper()
	s, err := spec.Load()
	if err != nil {
		t.Fatal(err)
	}
	vs, err := Variants([]byte(msg))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.ValidateJSON(schema, []byte(msg)); err != nil {
		t.Fatalf("the base message is invalid: %v", err)
	}
	used := map[string]bool{}
	for _, v := range vs {
		schemaErr := s.ValidateJSON(schema, v.Data)
		decodeErr := decode(v.Data)
		if (schemaErr == nil) == (decodeErr == nil) {
			continue
		}
		if _, ok := differ[v.Change]; ok {
			used[v.Change] = true
			continue
		}
		if decodeErr != nil {
			t.Errorf("%s: the decoder refuses what %s accepts: %v\n%s", v.Change, spec.Path(schema), decodeErr, v.Data)
		} else {
			t.Errorf("%s: the decoder accepts what %s refuses: %v\n%s", v.Change, spec.Path(schema), schemaErr, v.Data)
		}
	}
	for c, why := range differ {
		if !used[c] {
			t.Errorf("departure %q (%s) did not occur", c, why)
		}
	}
	t.Logf("%d variants of the message judged alike by the decoder and %s", len(vs)-len(used), spec.Path(schema))
}

// SameMembers checks that the JSON members of the struct type of v (its
// json tags, through embedded structs) are the properties of the named
// schema, except those listed in unused (schema members the Go type
// knowingly leaves out, each with its reason), and that every member the
// schema requires is one the Go type always writes (no omitempty).
func SameMembers(t *testing.T, schema string, v any, unused map[string]string) {
	t.Helper()
	problems, err := MemberProblems(schema, v, unused)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		t.Error(p)
	}
}

// MemberProblems returns what SameMembers reports, sorted. The schema may
// name a part of one with a JSON pointer made of properties/<name>, items
// and additionalProperties: "SpanData#/properties/links/items".
func MemberProblems(schema string, v any, unused map[string]string) ([]string, error) {
	s, err := spec.Load()
	if err != nil {
		return nil, err
	}
	name, ptr, _ := strings.Cut(schema, "#")
	sch, ok := s.Schema(name)
	if !ok {
		return nil, fmt.Errorf("no schema %s", name)
	}
	if sch, err = subschema(sch, ptr); err != nil {
		return nil, fmt.Errorf("%s: %w", schema, err)
	}
	members := map[string]bool{} // name -> omitempty
	var collect func(rt reflect.Type)
	collect = func(rt reflect.Type) {
		for rt.Kind() == reflect.Pointer {
			rt = rt.Elem()
		}
		for i := range rt.NumField() {
			f := rt.Field(i)
			tag, hasTag := f.Tag.Lookup("json")
			name, opts, _ := strings.Cut(tag, ",")
			if f.Anonymous && !hasTag {
				collect(f.Type)
				continue
			}
			if name == "-" || (!f.IsExported() && !hasTag) {
				continue
			}
			if name == "" {
				name = f.Name
			}
			members[name] = strings.Contains(opts, "omitempty") || strings.Contains(opts, "omitzero")
		}
	}
	collect(reflect.TypeOf(v))
	props := sch.Properties
	if props == nil && len(sch.AllOf) > 0 {
		props = sch.AllOf[0].Properties
	}
	var out []string
	for name := range members {
		if _, ok := props[name]; !ok {
			out = append(out, fmt.Sprintf("%T has member %q, which %s does not have", v, name, spec.Path(schema)))
		}
	}
	for name := range props {
		if _, ok := members[name]; !ok {
			if _, ok := unused[name]; !ok {
				out = append(out, fmt.Sprintf("%T has no member %q of %s", v, name, spec.Path(schema)))
			}
		}
	}
	for _, name := range sch.Required {
		if omit, ok := members[name]; ok && omit {
			out = append(out, fmt.Sprintf("%T leaves out %q when empty, which %s requires", v, name, spec.Path(schema)))
		}
	}
	sort.Strings(out)
	return out, nil
}

// subschema follows a JSON pointer of properties, items and
// additionalProperties steps from s.
func subschema(s *jsonschema.Schema, ptr string) (*jsonschema.Schema, error) {
	toks := strings.Split(strings.TrimPrefix(ptr, "/"), "/")
	for i := 0; i < len(toks) && ptr != ""; i++ {
		switch toks[i] {
		case "properties":
			i++
			if i == len(toks) || s.Properties[toks[i]] == nil {
				return nil, fmt.Errorf("no such property in %q", ptr)
			}
			s = s.Properties[toks[i]]
		case "items":
			s = s.Items
		case "additionalProperties":
			s = s.AdditionalProperties
		default:
			return nil, fmt.Errorf("unsupported step %q in %q", toks[i], ptr)
		}
		if s == nil {
			return nil, fmt.Errorf("%q leads nowhere", ptr)
		}
	}
	return s, nil
}
