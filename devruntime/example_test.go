package devruntime_test

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"

	"github.com/genkit-runtime/genkit-runtime/devruntime"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// Serve a registry as a dev runtime until ctx ends. Under the Genkit CLI,
// OptionsFromEnv picks up what the CLI asks for.
func ExampleServe() {
	reg := registry.New(nil)
	registry.DefineFlow(reg, "greet", func(ctx context.Context, name string) (string, error) {
		return "Hello, " + name + "!", nil
	}, nil)

	opts, err := devruntime.OptionsFromEnv(nil)
	if err != nil {
		panic(err)
	}
	root, _ := os.MkdirTemp("", "project")
	defer os.RemoveAll(root)
	opts.ProjectRoot = root // where .genkit/runtimes goes; by default found from the working directory
	opts.Port = 0           // the first free port in 3100..3199

	ctx, cancel := context.WithCancel(context.Background())
	cancel() // a real program cancels on SIGINT or SIGTERM
	fmt.Println(devruntime.Serve(ctx, reg, opts))
	// Output:
	// <nil>
}

// Mount the runtime in a server that also serves the app's own routes,
// and announce it to the Genkit CLI.
func ExampleRuntime_Handler() {
	reg := registry.New(nil)
	registry.DefineFlow(reg, "greet", func(ctx context.Context, name string) (string, error) {
		return "Hello, " + name + "!", nil
	}, nil)
	root, _ := os.MkdirTemp("", "project")
	defer os.RemoveAll(root)

	ctx := context.Background()
	rt, err := devruntime.New(ctx, reg, &devruntime.Options{Name: "shop", ProjectRoot: root})
	if err != nil {
		panic(err)
	}
	defer rt.Close(ctx)

	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "[]") })
	mux.Handle("/api/", rt.Handler())
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(err)
	}
	srv := &http.Server{Handler: mux}
	go srv.Serve(l)
	defer srv.Close()

	rf, err := rt.Announce(l.Addr())
	if err != nil {
		panic(err)
	}
	defer rf.Remove()

	base := rf.Info().ReflectionServerURL
	resp, err := http.Post(base+"/api/runAction", "application/json", strings.NewReader(`{"key":"/flow/greet","input":"Ann"}`))
	if err != nil {
		panic(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	// The trace ID is new on each run.
	fmt.Println(resp.StatusCode, regexp.MustCompile(`[0-9a-f]{32}`).ReplaceAllString(string(body), "TRACE"))
	resp, _ = http.Get(base + "/orders")
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	fmt.Println(resp.StatusCode, string(body))
	// Output:
	// 200 {"result":"Hello, Ann!","telemetry":{"traceId":"TRACE"}}
	// 200 []
}
