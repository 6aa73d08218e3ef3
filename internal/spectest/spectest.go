// Package spectest helps tests compare hand-written decoders of the wire
// types with the schemas of package spec: Variants derives, from a valid
// message, messages that break it one member at a time, and Agree checks
// that a decoder accepts exactly the variants a schema accepts.
package spectest

import (
	"encoding/json"
	"fmt"
	"sort"
	"testing"

	"github.com/genkit-runtime/genkit-runtime/spec"
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
