// Command peer-gosdk is the load harness's Go SDK (v1.7.0) peer: the
// benchmarked flows of genkit-runtime's fixture (echo, greet, steps,
// count), plus FIXTURE_SYNTHETIC_ACTIONS trivial flows for the listing
// scenario. The Go SDK v1.7.0 has no dynamic action providers.
package main

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/firebase/genkit/go/core"
	"github.com/firebase/genkit/go/genkit"
)

type GreetInput struct {
	Name  string `json:"name" jsonschema:"minLength=1"`
	Count int    `json:"count,omitempty" jsonschema:"minimum=1,maximum=10"`
}

type StepsInput struct {
	Steps int `json:"steps"`
}

type CountInput struct {
	Count int `json:"count"`
}

type CountChunk struct {
	Index int `json:"index"`
}

type CountOutput struct {
	Count int `json:"count"`
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	g := genkit.Init(ctx)
	genkit.DefineFlow(g, "echo", func(ctx context.Context, in any) (any, error) { return in, nil })
	genkit.DefineFlow(g, "greet", func(ctx context.Context, in GreetInput) (string, error) {
		n := max(in.Count, 1)
		parts := make([]string, n)
		for i := range parts {
			parts[i] = "Hello, " + in.Name + "!"
		}
		return strings.Join(parts, " "), nil
	})
	genkit.DefineFlow(g, "steps", func(ctx context.Context, in StepsInput) ([]string, error) {
		out := make([]string, 0, in.Steps)
		for i := 1; i <= in.Steps; i++ {
			name := fmt.Sprintf("step-%d", i)
			v, err := genkit.Run(ctx, name, func() (string, error) { return name, nil })
			if err != nil {
				return nil, err
			}
			out = append(out, v)
		}
		return out, nil
	})
	genkit.DefineStreamingFlow(g, "count", func(ctx context.Context, in CountInput, cb core.StreamCallback[CountChunk]) (CountOutput, error) {
		for i := range in.Count {
			if cb != nil {
				if err := cb(ctx, CountChunk{Index: i}); err != nil {
					return CountOutput{}, err
				}
			}
		}
		return CountOutput{Count: in.Count}, nil
	})
	if n, _ := strconv.Atoi(os.Getenv("FIXTURE_SYNTHETIC_ACTIONS")); n > 0 {
		for i := range n {
			genkit.DefineFlow(g, fmt.Sprintf("synthetic/flow%05d", i), func(ctx context.Context, in any) (any, error) { return in, nil })
		}
	}
	<-ctx.Done()
}
