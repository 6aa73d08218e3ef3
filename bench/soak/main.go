// Command soak is a bounded soak test of genkit-runtime: it builds the
// binary, starts it with its profiling endpoint (--pprof-addr) on
// loopback, fills its trace store with a warm-up, takes a baseline, runs a
// long mixed load in which some clients hang up early, waits for the
// runtime to go quiet and measures again. It exits with status 1 when the
// runtime kept goroutines or heap beyond the baseline, or a run went wrong.
//
//	go run ./bench/soak                      # 20,000 runs, 200 clients, 30% hanging up
//	go run ./bench/soak -runs 2000 -concurrency 50
//
// Runs cycle through a fixed mix: 30% streaming /flow/count (20 chunks,
// 2 ms apart), 30% /flow/echo, 20% /flow/steps (1 to 4 steps) and 20%
// /flow/wait (20 ms). Client w of C makes runs w, w+C, w+2C, ...; the first
// -hangup × C clients hang up on each of their runs by closing the
// connection: after the first chunk of a stream (mid-stream), after the
// response headers otherwise (mid-run for /flow/wait). The whole soak,
// build included, is bounded by -timeout.
//
// Measured, each time after closing the client's idle connections and
// waiting until the runtime's goroutine count has held still for a second:
//
//   - goroutines: the total on the first line of /debug/pprof/goroutine?debug=1
//   - heap in-use and heap alloc: the HeapInuse and HeapAlloc of the
//     runtime.MemStats in /debug/pprof/heap?gc=1&debug=1, read after a GC
//   - RSS: VmRSS of /proc/<pid>/status
//
// The runtime's trace store keeps the last --trace-store-max-traces traces
// (1,000 by default); they are retained by design, not leaked, so the
// baseline is taken after a warm-up of twice that many runs of the same
// mix, when the store is full. The measurement before the warm-up is
// reported too.
//
// Leak conditions: goroutines after the soak at most the baseline plus
// -goroutine-slack (5); heap in-use after the soak at most the baseline
// plus -heap-tolerance (25%) of it, and at least 4 MiB, since with the
// store full heap in-use varies by up to about 1.5 MiB between
// measurements (the retained traces differ, and freed objects leave spans
// partly in use). A leak of 300 bytes a run would exceed it over the
// default 20,000 runs, and a goroutine leaked by one run in a thousand
// would exceed the goroutine slack. Every completed run must also have had
// its exact result, and the runtime must exit with status 0 on SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run parses args, runs the soak and prints its report; it returns the exit
// status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	cfg := DefaultConfig()
	fs := flag.NewFlagSet("soak", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&cfg.Runs, "runs", cfg.Runs, "runs in the soak (after the warm-up)")
	fs.IntVar(&cfg.Concurrency, "concurrency", cfg.Concurrency, "concurrent clients")
	fs.Float64Var(&cfg.HangupRatio, "hangup", cfg.HangupRatio, "fraction of the clients that hang up on each of their runs early: after the first chunk of a stream, after the headers otherwise")
	fs.IntVar(&cfg.Warmup, "warmup", cfg.Warmup, "warm-up runs before the baseline (0: twice -max-traces, which fills the trace store)")
	fs.IntVar(&cfg.MaxTraces, "max-traces", cfg.MaxTraces, "the runtime's --trace-store-max-traces")
	fs.IntVar(&cfg.GoroutineSlack, "goroutine-slack", cfg.GoroutineSlack, "goroutines allowed above the baseline after the soak")
	fs.Float64Var(&cfg.HeapTolerance, "heap-tolerance", cfg.HeapTolerance, "fraction of the baseline heap in-use allowed above it after the soak (at least 4 MiB)")
	fs.DurationVar(&cfg.Timeout, "timeout", cfg.Timeout, "bound on the whole soak, build included")
	fs.StringVar(&cfg.RuntimeBin, "runtime-bin", "", "genkit-runtime binary to soak (default: built from this module)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "soak: unexpected argument %q\n", fs.Arg(0))
		return 2
	}
	cfg.Progress = func(format string, args ...any) {
		fmt.Fprintf(stderr, "%s soak: %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
	}
	rep, err := Run(ctx, cfg)
	if rep != nil {
		rep.WriteTable(stdout)
	}
	if err != nil {
		fmt.Fprintln(stderr, "soak:", err)
		return 1
	}
	if problems := rep.Problems(); len(problems) > 0 {
		for _, p := range problems {
			fmt.Fprintln(stderr, "soak: FAIL:", p)
		}
		return 1
	}
	fmt.Fprintln(stderr, "soak: PASS")
	return 0
}
