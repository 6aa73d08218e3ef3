// Command hello is a Go program whose own flows show up in the Genkit
// Developer UI. Run it under the Genkit CLI:
//
//	genkit start -- go run ./examples/hello
//
// It defines four flows: greet, countdown (streaming), plan (with steps)
// and forecast, which calls an HTTP service through an OpenTelemetry
// instrumented client, so its trace shows the outgoing request as a child
// of the flow's span. The service is a small local server the program
// starts itself.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"

	"github.com/genkit-runtime/genkit-runtime/devruntime"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if err := run(ctx); err != nil {
		fmt.Fprintln(os.Stderr, "hello:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context) error {
	// One tracer provider for the app and the runtime: spans of
	// instrumented libraries made inside a flow join the flow's trace.
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.WithoutCancel(ctx))
	otel.SetTracerProvider(tp)

	weather, err := startWeatherService()
	if err != nil {
		return err
	}
	defer weather.Close()

	reg := registry.New(nil)
	if err := defineFlows(reg, weather.URL); err != nil {
		return err
	}

	// Behave like any Genkit runtime under the CLI: read the GENKIT_*
	// variables it sets.
	opts, err := devruntime.OptionsFromEnv(nil)
	if err != nil {
		return err
	}
	opts.Name = "hello"
	opts.TracerProvider = tp
	opts.Logger = slog.New(slog.NewTextHandler(os.Stderr, nil))
	return devruntime.Serve(ctx, reg, opts)
}

// Weather is what the weather service answers.
type Weather struct {
	City    string  `json:"city"`
	Sky     string  `json:"sky"`
	TempC   float64 `json:"tempC"`
	Updated string  `json:"updated"`
}

func defineFlows(reg *registry.Registry, weatherURL string) error {
	// A plain flow: its input and output schemas are inferred from the Go
	// types.
	type greeting struct {
		Name string `json:"name" jsonschema:"who to greet"`
	}
	if _, err := registry.DefineFlow(reg, "greet", func(ctx context.Context, in greeting) (string, error) {
		return "Hello, " + in.Name + "!", nil
	}, &registry.ActionOptions{Description: "Greets someone by name."}); err != nil {
		return err
	}

	// A streaming flow: each chunk reaches the Developer UI as it is sent.
	if _, err := registry.DefineStreamingFlow(reg, "countdown", func(ctx context.Context, from int, send func(int) error) (string, error) {
		for i := from; i > 0; i-- {
			if err := send(i); err != nil {
				return "", err
			}
			select {
			case <-time.After(100 * time.Millisecond):
			case <-ctx.Done():
				return "", ctx.Err()
			}
		}
		return "liftoff", nil
	}, &registry.ActionOptions{Description: "Counts down from a number, a chunk a number."}); err != nil {
		return err
	}

	// A flow with steps: each step is a span of its own in the trace.
	if _, err := registry.DefineFlow(reg, "plan", func(ctx context.Context, goal string) ([]string, error) {
		words, err := registry.Step(ctx, "split", func(ctx context.Context) ([]string, error) {
			return strings.Fields(goal), nil
		})
		if err != nil {
			return nil, err
		}
		return registry.Step(ctx, "number", func(ctx context.Context) ([]string, error) {
			tasks := make([]string, len(words))
			for i, w := range words {
				tasks[i] = fmt.Sprintf("%d. %s", i+1, w)
			}
			return tasks, nil
		})
	}, &registry.ActionOptions{Description: "Turns a goal into numbered tasks."}); err != nil {
		return err
	}

	// A flow calling an HTTP service through an instrumented client: the
	// request is a span in the flow's trace.
	client := &http.Client{Transport: otelhttp.NewTransport(http.DefaultTransport), Timeout: 10 * time.Second}
	if _, err := registry.DefineFlow(reg, "forecast", func(ctx context.Context, city string) (Weather, error) {
		return registry.Step(ctx, "fetch-weather", func(ctx context.Context) (Weather, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, weatherURL+"/weather?city="+city, nil)
			if err != nil {
				return Weather{}, err
			}
			resp, err := client.Do(req)
			if err != nil {
				return Weather{}, err
			}
			defer resp.Body.Close()
			var w Weather
			if err := json.NewDecoder(resp.Body).Decode(&w); err != nil {
				return Weather{}, fmt.Errorf("weather service: %w", err)
			}
			return w, nil
		})
	}, &registry.ActionOptions{Description: "Asks the weather service about a city."}); err != nil {
		return err
	}
	return nil
}

// weatherService is the local HTTP service the forecast flow calls.
type weatherService struct {
	URL string
	srv *http.Server
}

func startWeatherService() (*weatherService, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /weather", func(w http.ResponseWriter, r *http.Request) {
		city := r.URL.Query().Get("city")
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(Weather{City: city, Sky: "clear", TempC: 21.5, Updated: time.Now().UTC().Format(time.RFC3339)})
	})
	s := &weatherService{URL: "http://" + l.Addr().String(), srv: &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}}
	go s.srv.Serve(l)
	return s, nil
}

// Close stops the service.
func (s *weatherService) Close() error { return s.srv.Close() }
