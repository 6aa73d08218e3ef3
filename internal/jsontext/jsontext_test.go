package jsontext

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestMarshal(t *testing.T) {
	for _, tc := range []struct {
		in   any
		want string
	}{
		{map[string]string{"a": "<b>&</b>"}, `{"a":"<b>&</b>"}`},
		{[]int{1, 2}, `[1,2]`},
	} {
		got, err := Marshal(tc.in)
		if err != nil || string(got) != tc.want {
			t.Errorf("Marshal(%v) = %s, %v; want %s", tc.in, got, err, tc.want)
		}
	}
}

var unescapeTests = []string{
	`"<a href=\"x\">&amp;</a>"`,
	`{"k":"\\u003c not an escape","v":"\u003c\u003e\u0026","w":"\u00e9"}`,
	`["\\","\\\\u003c","\u003"]`,
	`{}`,
}

func TestUnescapeHTML(t *testing.T) {
	b, err := json.Marshal(map[string]string{"s": `<b>&"\u003c`})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := string(UnescapeHTML(b)), `{"s":"<b>&\"\\u003c"}`; got != want {
		t.Errorf("UnescapeHTML(%s) = %s, want %s", b, got, want)
	}
}

// FuzzUnescapeHTML checks that unescaping never changes the value a
// JSON text encodes.
func FuzzUnescapeHTML(f *testing.F) {
	for _, s := range unescapeTests {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var want any
		if err := json.Unmarshal([]byte(s), &want); err != nil {
			// Any string, encoded, is JSON.
			b, _ := json.Marshal(s)
			s = string(b)
			if err := json.Unmarshal(b, &want); err != nil {
				t.Fatal(err)
			}
		}
		out := UnescapeHTML([]byte(s))
		var got any
		if err := json.Unmarshal(out, &got); err != nil {
			t.Fatalf("UnescapeHTML(%q) = %q: %v", s, out, err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Fatalf("UnescapeHTML(%q) = %q changed the value (-want +got):\n%s", s, out, diff)
		}
		if strings.Contains(string(out), `\u003c`) && !strings.Contains(s, `\\u003c`) {
			t.Fatalf("UnescapeHTML(%q) = %q left an escape", s, out)
		}
	})
}

func TestIsCompact(t *testing.T) {
	for _, s := range []string{
		`{}`, `{"a":1}`, `{"a b":"c d"}`, `"\" "`, `"\\"`, `["\\\"", "x"]`, `{ "a":1}`, `[1,2 ]`,
		"{\"a\":\n1}", `"x\\" `, `{"a":"\\\\"} `, ` 1`, `"tab\there"`,
	} {
		var b bytes.Buffer
		if err := json.Compact(&b, []byte(s)); err != nil {
			t.Fatalf("test value %q is not JSON: %v", s, err)
		}
		if got, want := IsCompact([]byte(s)), b.String() == s; got != want {
			t.Errorf("IsCompact(%q) = %v; want %v", s, got, want)
		}
		if got, err := Compact([]byte(s)); err != nil || string(got) != b.String() {
			t.Errorf("Compact(%q) = %q, %v; want %q", s, got, err, b.String())
		}
	}
	if _, err := Compact([]byte(`{"a": `)); err == nil {
		t.Error("Compact of invalid JSON with whitespace: no error")
	}
}

// FuzzIsCompact checks IsCompact against json.Compact on valid JSON.
func FuzzIsCompact(f *testing.F) {
	for _, s := range []string{`{"a b":"c\" d"}`, `[1, 2]`, `"\\\\"`, `{"k":{"n":[true,null," "]}}`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var b bytes.Buffer
		if json.Compact(&b, data) != nil {
			return
		}
		if got, want := IsCompact(data), bytes.Equal(b.Bytes(), data); got != want {
			t.Fatalf("IsCompact(%q) = %v; want %v", data, got, want)
		}
	})
}

func TestKind(t *testing.T) {
	for _, tc := range []struct {
		raw, kind, described string
	}{
		{`"s"`, "string", "a string"},
		{` 12`, "number", "a number"},
		{`-1`, "number", "a number"},
		{"\ttrue", "boolean", "a boolean"},
		{`false`, "boolean", "a boolean"},
		{`null`, "null", "null"},
		{"\n{}", "object", "an object"},
		{`[1]`, "array", "an array"},
		{` `, "", "nothing"},
		{``, "", "nothing"},
	} {
		if got := Kind([]byte(tc.raw)); got != tc.kind {
			t.Errorf("Kind(%q) = %q, want %q", tc.raw, got, tc.kind)
		}
		if got := Described(Kind([]byte(tc.raw))); got != tc.described {
			t.Errorf("Described(Kind(%q)) = %q, want %q", tc.raw, got, tc.described)
		}
		if tc.kind == "" {
			continue
		}
		var v any
		if err := json.Unmarshal([]byte(tc.raw), &v); err != nil {
			t.Fatal(err)
		}
		if got := KindOf(v); got != tc.kind {
			t.Errorf("KindOf(%#v) = %q, want %q", v, got, tc.kind)
		}
	}
	if got := KindOf(struct{}{}); got != "struct {}" {
		t.Errorf("KindOf(struct{}{}) = %q, want the Go type", got)
	}
}
