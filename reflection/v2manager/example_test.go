package v2manager_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// A manager on a loopback server, and a genkit-runtime client that
// registers with it and runs a streaming flow for it.
func Example() {
	m := v2manager.New(&v2manager.Options{TelemetryServerURL: "http://127.0.0.1:4033"})
	srv := httptest.NewServer(m)
	defer srv.Close()
	defer m.Close()

	reg := registry.New(nil)
	registry.DefineStreamingFlow(reg, "shout", func(ctx context.Context, in string, send func(string) error) (string, error) {
		for _, w := range strings.Fields(in) {
			if err := send(strings.ToUpper(w)); err != nil {
				return "", err
			}
		}
		return strings.ToUpper(in) + "!", nil
	}, nil)
	client := reflection.NewClient(reg, &reflection.ClientOptions{
		ServerURL: "ws" + strings.TrimPrefix(srv.URL, "http"),
		RuntimeID: "example", PID: 1, GenkitVersion: "genkit-runtime/example",
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- client.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()

	rt, err := m.WaitRuntime(ctx, "example")
	if err != nil {
		panic(err)
	}
	fmt.Printf("registered %s (%s)\n", rt.Info().ID, rt.Info().GenkitVersion)

	res, err := rt.RunAction(ctx, &v2manager.RunRequest{Key: "/flow/shout", Input: "hello world", Stream: true},
		&v2manager.RunCallbacks{OnChunk: func(c json.RawMessage) { fmt.Println("chunk", string(c)) }})
	if err != nil {
		panic(err)
	}
	fmt.Println("result", string(res.Result), "traced", len(res.TraceID) == 32)

	_, err = rt.RunAction(ctx, &v2manager.RunRequest{Key: "/flow/missing"}, nil)
	fmt.Println(err)
	// Output:
	// registered example (genkit-runtime/example)
	// chunk "HELLO"
	// chunk "WORLD"
	// result "HELLO WORLD!" traced true
	// json-rpc error -32602: action /flow/missing not found
}
