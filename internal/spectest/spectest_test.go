package spectest_test

import (
	"encoding/json"
	"slices"
	"testing"

	"github.com/genkit-runtime/genkit-runtime/internal/spectest"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestVariants(t *testing.T) {
	vs, err := spectest.Variants([]byte(`{"a":{"b":1},"c":[true]}`))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, v := range vs {
		if !json.Valid(v.Data) {
			t.Errorf("%s: invalid JSON %s", v.Change, v.Data)
		}
		got[v.Change] = string(v.Data)
	}
	// Each change is applied alone: the message is restored after it, so
	// the changes made earlier in the walk do not show in later variants.
	for change, want := range map[string]string{
		"(none)":            `{"a":{"b":1},"c":[true]}`,
		"delete $.a":        `{"c":[true]}`,
		"$.a.b = null":      `{"a":{"b":null},"c":[true]}`,
		`$.c[0] = "x"`:      `{"a":{"b":1},"c":["x"]}`,
		"$.a.x-extra added": `{"a":{"b":1,"x-extra":"extra"},"c":[true]}`,
		"delete $.a.b":      `{"a":{},"c":[true]}`,
	} {
		if got[change] != want {
			t.Errorf("%s: %s, want %s", change, got[change], want)
		}
	}
}

func TestMemberProblems(t *testing.T) {
	type state struct {
		RequestID string `json:"requestId,omitempty"` // required by the schema
		Trace     string `json:"traceID"`             // misspelt
		internal  int
	}
	got, err := spectest.MemberProblems("ReflectionRunActionStateParams", state{}, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`spectest_test.state has member "traceID", which spec/schemas/ReflectionRunActionStateParams.json does not have`,
		`spectest_test.state has no member "state" of spec/schemas/ReflectionRunActionStateParams.json`,
		`spectest_test.state leaves out "requestId" when empty, which spec/schemas/ReflectionRunActionStateParams.json requires`,
	}
	if !slices.Equal(got, want) {
		t.Errorf("problems:\n%q\nwant\n%q", got, want)
	}
	_ = state{}.internal
}
