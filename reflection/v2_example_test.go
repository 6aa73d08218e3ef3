package reflection_test

import (
	"context"
	"fmt"
	"net/http/httptest"
	"strings"

	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/reflection/v2manager"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// A runtime serving its registry to a Reflection API v2 manager, the way
// the binary does when GENKIT_REFLECTION_V2_SERVER is set.
func ExampleNewClient() {
	// The manager's side, here in-process; normally the Genkit CLI.
	m := v2manager.New(&v2manager.Options{TelemetryServerURL: "http://127.0.0.1:4033"})
	srv := httptest.NewServer(m)
	defer srv.Close()
	defer m.Close()

	reg := registry.New(nil)
	registry.DefineFlow(reg, "hello", func(ctx context.Context, name string) (string, error) {
		return "Hello, " + name + "!", nil
	}, nil)
	telemetry := make(chan string, 1)
	client := reflection.NewClient(reg, &reflection.ClientOptions{
		ServerURL:      "ws" + strings.TrimPrefix(srv.URL, "http"), // GENKIT_REFLECTION_V2_SERVER
		RuntimeID:      "example",
		PID:            1,
		GenkitVersion:  "genkit-runtime/0.1.0",
		OnTelemetryURL: func(u string) { telemetry <- u },
	})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- client.Run(ctx) }()

	rt, err := m.WaitRuntime(ctx, "example")
	if err != nil {
		panic(err)
	}
	fmt.Println("telemetry server:", <-telemetry)
	res, err := rt.RunAction(ctx, &v2manager.RunRequest{Key: "/flow/hello", Input: "Ada"}, nil)
	if err != nil {
		panic(err)
	}
	fmt.Println(string(res.Result))

	cancel()
	fmt.Println(<-done)
	// Output:
	// telemetry server: http://127.0.0.1:4033
	// "Hello, Ada!"
	// context canceled
}
