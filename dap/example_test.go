package dap_test

import (
	"context"
	"encoding/json"
	"fmt"
	"log"

	"github.com/genkit-runtime/genkit-runtime/dap"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

func ExampleRegister() {
	ctx := context.Background()
	reg := registry.New(nil)

	upper := registry.MustNewAction(registry.Descriptor{Type: "tool", Name: "shout"},
		func(ctx context.Context, req *registry.Request) (any, error) {
			var s string
			if err := json.Unmarshal(req.Input, &s); err != nil {
				return nil, err
			}
			return s + "!", nil
		})
	p, err := dap.New("tools", func(ctx context.Context) (dap.Actions, error) {
		return dap.Actions{"tool": {upper}}, nil
	}, nil)
	if err != nil {
		log.Fatal(err)
	}
	if err := dap.Register(reg, p); err != nil {
		log.Fatal(err)
	}

	for _, d := range reg.ListSources(ctx) {
		fmt.Println("listed:", d.Key, "name:", d.Name)
	}
	a, err := reg.Resolve(ctx, "/dynamic-action-provider/tools:tool/shout")
	if err != nil {
		log.Fatal(err)
	}
	res, err := a.Run(ctx, &registry.Request{Input: json.RawMessage(`"hello"`)}, nil)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("result:", string(res.Output))
	// Output:
	// listed: /dynamic-action-provider/tools:tool/shout name: shout
	// result: "hello!"
}
