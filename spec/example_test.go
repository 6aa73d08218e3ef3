package spec_test

import (
	"fmt"

	"github.com/genkit-runtime/genkit-runtime/spec"
)

// Validate a run's final object the way the conformance suite does: a
// Status whose details is not an object breaks the rule the CLI relies on.
func ExampleSchemas_ValidateJSON() {
	s, err := spec.Load()
	if err != nil {
		panic(err)
	}
	good := `{"error":{"code":5,"message":"nope","details":{"traceId":"0123456789abcdef0123456789abcdef"}}}`
	bad := `{"error":{"code":5,"message":"nope"}}`
	fmt.Println(s.ValidateJSON("rules/RunActionFinal", []byte(good)) == nil)
	fmt.Println(s.ValidateJSON("rules/RunActionFinal", []byte(bad)) == nil)
	// Output:
	// true
	// false
}
