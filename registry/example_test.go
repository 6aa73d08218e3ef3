package registry_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"go.opentelemetry.io/otel/trace"

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

func ExampleSpan() {
	reg := registry.New(nil)
	// A flow that checks each item in a span of its own; a failed check
	// fails its span, not the flow.
	a, err := registry.DefineFlow(reg, "checkAll", func(ctx context.Context, items []string) ([]string, error) {
		var verdicts []string
		for _, item := range items {
			err := registry.Span(ctx, "check "+item, nil, func(ctx context.Context, span trace.Span) error {
				if item == "" {
					return errors.New("empty item")
				}
				return nil
			})
			if err != nil {
				verdicts = append(verdicts, err.Error())
			} else {
				verdicts = append(verdicts, "ok")
			}
		}
		return verdicts, nil
	}, nil)
	if err != nil {
		panic(err)
	}
	res, err := a.Run(context.Background(), &registry.Request{Input: json.RawMessage(`["a",""]`)}, nil)
	fmt.Println(string(res.Output), err)
	// Output:
	// ["ok","empty item"] <nil>
}
