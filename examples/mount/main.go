// Command mount is an app with HTTP routes of its own that serves the
// Genkit dev runtime on the same server and port, so the Genkit CLI and
// Developer UI can run its actions while the app serves its users:
//
//	genkit start -- go run ./examples/mount
//	curl localhost:8080/orders
//
// The -addr flag sets the address (default 127.0.0.1:8080).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sync"
	"syscall"
	"time"

	"github.com/genkit-runtime/genkit-runtime/devruntime"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "address to serve the app and the dev runtime on")
	flag.Parse()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	if err := run(ctx, *addr); err != nil {
		fmt.Fprintln(os.Stderr, "mount:", err)
		os.Exit(1)
	}
}

// Order is an order of the shop.
type Order struct {
	ID    int    `json:"id"`
	Item  string `json:"item"`
	Count int    `json:"count"`
}

// shop is the app: a list of orders.
type shop struct {
	mu     sync.Mutex
	orders []Order
}

func (s *shop) add(item string, count int) Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	o := Order{ID: len(s.orders) + 1, Item: item, Count: count}
	s.orders = append(s.orders, o)
	return o
}

func (s *shop) list() []Order {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Order{}, s.orders...)
}

func run(ctx context.Context, addr string) error {
	logger := slog.New(slog.NewTextHandler(os.Stderr, nil))
	s := &shop{}

	// The app's own actions, over its own state.
	reg := registry.New(nil)
	type orderInput struct {
		Item  string `json:"item"`
		Count int    `json:"count,omitempty"`
	}
	if _, err := registry.DefineFlow(reg, "placeOrder", func(ctx context.Context, in orderInput) (Order, error) {
		return s.add(in.Item, max(in.Count, 1)), nil
	}, &registry.ActionOptions{Description: "Places an order."}); err != nil {
		return err
	}
	if _, err := registry.DefineFlow(reg, "listOrders", func(ctx context.Context, _ struct{}) ([]Order, error) {
		return s.list(), nil
	}, &registry.ActionOptions{Description: "Lists the orders."}); err != nil {
		return err
	}

	opts, err := devruntime.OptionsFromEnv(nil)
	if err != nil {
		return err
	}
	opts.Name = "mount"
	opts.Logger = logger
	rt, err := devruntime.New(ctx, reg, opts)
	if err != nil {
		return err
	}
	defer rt.Close(context.WithoutCancel(ctx))

	// One server: the app's routes, and the dev runtime under /api/.
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.list())
	})
	mux.Handle("/api/", rt.Handler())

	l, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(l) }()

	// Once the server accepts connections, tell the Genkit CLI where it is.
	rf, err := rt.Announce(l.Addr())
	if err != nil {
		srv.Close()
		return err
	}
	defer rf.Remove()
	logger.Info("serving the app and the dev runtime", "url", "http://"+l.Addr().String())

	select {
	case err := <-served:
		return err
	case <-ctx.Done():
	case <-rt.Quit():
	case <-devruntime.WatchParent(ctx):
		logger.Info("the process that started this app has exited")
	}
	rf.Remove()
	sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return err
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}
