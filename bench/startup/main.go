// Command startup measures how fast programs start and how much memory
// they hold when idle: genkit-runtime beside a hello-world net/http server
// (bench/startup/hello), or any binaries that take --port and --root and
// answer GET /api/__health. Starts are interleaved (one of each binary per
// round) and summarised by their medians, so that the load of a shared
// machine weighs on every binary alike.
//
//	go run ./bench/startup                  # builds genkit-runtime and hello, 21 rounds
//	go run ./bench/startup -n 31 -top 15 /tmp/before /tmp/after /tmp/hello
//
// Each start runs the binary with --port (a free loopback port) and --root
// (a new temporary folder), in the environment of the probe without its
// GENKIT_* and OTEL_* variables, and measures:
//
//   - start to healthy: from just before exec to the first 200 answer of
//     GET /api/__health, polled every 0.2 ms;
//   - idle memory, one second after exec: VmRSS, RssAnon and RssFile of
//     /proc/<pid>/status (Linux only), in MiB.
//
// Then it stops the binary with SIGTERM. Every round also starts each
// binary once more with GODEBUG=inittrace=1, whose report gives when the
// last package initialisation ended (ms after the process started) and
// the time all of them took; -top N lists the N packages whose
// initialisation took longest (medians). The size is the binary's, in
// MB. Binaries are built with the default flags of "go build"; each start
// is bounded by -timeout.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// run runs the command line args and returns the exit status.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("startup", flag.ContinueOnError)
	fs.SetOutput(stderr)
	rounds := fs.Int("n", 21, "rounds: starts of each binary, and as many with GODEBUG=inittrace=1")
	top := fs.Int("top", 0, "list the `N` packages of each binary whose initialisation took longest")
	timeout := fs.Duration("timeout", 10*time.Second, "bound of one start, until healthy")
	if err := fs.Parse(args); err != nil {
		return 2
	}
	if *rounds < 1 {
		fmt.Fprintln(stderr, "startup: -n must be at least 1")
		return 2
	}
	bins := fs.Args()
	if len(bins) == 0 {
		dir, err := os.MkdirTemp("", "startup-")
		if err != nil {
			fmt.Fprintln(stderr, "startup:", err)
			return 1
		}
		defer os.RemoveAll(dir)
		for _, pkg := range []string{runtimeproc.Package, "./bench/startup/hello"} {
			bin, err := runtimeproc.BuildProgram(ctx, dir, pkg)
			if err != nil {
				fmt.Fprintln(stderr, "startup:", err)
				return 1
			}
			bins = append(bins, bin)
		}
	}
	res, err := Measure(ctx, bins, *rounds, *timeout)
	if err != nil {
		fmt.Fprintln(stderr, "startup:", err)
		return 1
	}
	WriteTable(stdout, res)
	for _, r := range res {
		if *top > 0 {
			fmt.Fprintf(stdout, "\n%s: longest package initialisations (median ms)\n", filepath.Base(r.Binary))
			for _, p := range r.TopInits(*top) {
				fmt.Fprintf(stdout, "  %6.2f %s\n", p.Ms, p.Package)
			}
		}
	}
	return 0
}
