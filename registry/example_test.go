package registry_test

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/status"
)

func ExampleDefineFlow() {
	type shoutInput struct {
		Text   string `json:"text"`
		Repeat int    `json:"repeat,omitempty"`
	}
	reg := registry.New(nil)
	_, err := registry.DefineFlow(reg, "shout", func(ctx context.Context, in shoutInput) (string, error) {
		return strings.Repeat(strings.ToUpper(in.Text)+"!", max(in.Repeat, 1)), nil
	}, &registry.ActionOptions{Description: "Shouts its text."})
	if err != nil {
		panic(err)
	}

	a, ok := reg.Lookup("/flow/shout")
	fmt.Println(a.Key(), ok)

	res, err := a.Run(context.Background(), &registry.Request{Input: json.RawMessage(`{"text":"hi","repeat":2}`)}, nil)
	fmt.Println(string(res.Output), err)

	// Input that does not match the inferred schema is rejected before the
	// flow runs.
	_, err = a.Run(context.Background(), &registry.Request{Input: json.RawMessage(`{"txt":"hi"}`)}, nil)
	fmt.Println(status.CodeOf(err))
	// Output:
	// /flow/shout true
	// "HI!HI!" <nil>
	// INVALID_ARGUMENT
}
