package reflection_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"

	"go.opentelemetry.io/otel/trace/noop"

	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// ExampleNewHandler mounts the Reflection API in an application's own mux,
// beside the application's routes, over the application's own registry.
func ExampleNewHandler() {
	reg := registry.New(nil)
	_, err := registry.DefineFlow(reg, "shout", func(ctx context.Context, s string) (string, error) {
		return strings.ToUpper(s) + "!", nil
	}, nil)
	if err != nil {
		panic(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /hello", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") })
	// The handler's routes all live under /api/.
	mux.Handle("/api/", reflection.NewHandler(reg, &reflection.Options{
		TracerProvider: noop.NewTracerProvider(),
		Version:        "0.1.0",
	}))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := srv.Client().Post(srv.URL+"/api/runAction", "application/json",
		strings.NewReader(`{"key":"/flow/shout","input":"hi"}`))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var out struct {
		Result    string `json:"result"`
		Telemetry struct {
			TraceID string `json:"traceId"`
		} `json:"telemetry"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		panic(err)
	}
	fmt.Println(resp.StatusCode, out.Result, out.Telemetry.TraceID == resp.Header.Get(reflection.HeaderTraceID))

	resp, err = srv.Client().Get(srv.URL + "/hello")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(string(b))
	// Output:
	// 200 HI! true
	// hello
}

// Example_embed serves the Reflection API under a path prefix of an existing
// server, and lists the actions of the application's registry.
func Example_embed() {
	reg := registry.New(nil)
	_, err := registry.DefineFlow(reg, "double", func(ctx context.Context, n int) (int, error) { return 2 * n, nil },
		&registry.ActionOptions{Description: "Doubles a number."})
	if err != nil {
		panic(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/genkit/", http.StripPrefix("/genkit", reflection.NewHandler(reg, &reflection.Options{
		TracerProvider: noop.NewTracerProvider(),
	})))
	srv := httptest.NewServer(mux)
	defer srv.Close()

	resp, err := srv.Client().Get(srv.URL + "/genkit/api/actions")
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	fmt.Println(string(b))

	resp, err = srv.Client().Post(srv.URL+"/genkit/api/runAction?stream=true", "application/json",
		strings.NewReader(`{"key":"/flow/double","input":21}`))
	if err != nil {
		panic(err)
	}
	defer resp.Body.Close()
	var out struct{ Result int }
	if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
		panic(err)
	}
	fmt.Println(out.Result)
	// Output:
	// {"/flow/double":{"key":"/flow/double","name":"double","description":"Doubles a number.","inputSchema":{"type":"integer"},"outputSchema":{"type":"integer"}}}
	// 42
}
