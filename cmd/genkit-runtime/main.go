// Command genkit-runtime is a Genkit runtime: it serves the Genkit
// Reflection API over a registry of demo actions (the conformance fixture),
// so the Genkit CLI and Developer UI can list, run, stream, cancel and trace
// them.
//
// Usage:
//
//	genkit-runtime [flags]             serve the Reflection API
//	genkit-runtime runtimes [--root D] list a project's live runtimes
//	genkit-runtime conformance ...     run the built-in conformance suite
//	                                   against a runtime (-help for more)
//
// Run "genkit-runtime -help" for the flags and the environment variables it
// honours.
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr, os.Getenv))
}

// run runs the command line args and returns the exit status. getenv reads
// the environment; ctx ends on SIGINT, SIGTERM or SIGHUP (a closed
// terminal), each of which stops the runtime the graceful way.
func run(ctx context.Context, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	if len(args) > 0 {
		switch args[0] {
		case "runtimes":
			return runRuntimes(ctx, args[1:], stdout, stderr)
		case "conformance":
			return runConformance(ctx, args[1:], stdout, stderr)
		}
	}
	cfg, err := parseConfig(args, stderr, getenv)
	if err != nil {
		if err == errHelp {
			return 0
		}
		fmt.Fprintln(stderr, "genkit-runtime:", err)
		return 2
	}
	if err := serve(ctx, cfg, stderr); err != nil {
		fmt.Fprintln(stderr, "genkit-runtime:", err)
		return 1
	}
	return 0
}
