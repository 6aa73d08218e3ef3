// Package e2e holds the end-to-end tests of genkit-runtime: the built
// binary driven by the real Genkit CLI (npm genkit-cli, pinned in
// e2e/node/package-lock.json) over loopback.
package e2e

import (
	"context"
	"fmt"
	"os"
	"testing"

	"go.uber.org/goleak"

	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
)

// binary is the genkit-runtime binary built once for the package;
// helloBinary and mountBinary are the example programs.
var binary, helloBinary, mountBinary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "genkit-runtime-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if binary, err = runtimeproc.Build(context.Background(), dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	for _, b := range []struct {
		path *string
		pkg  string
	}{{&helloBinary, exampleHello}, {&mountBinary, exampleMount}} {
		if *b.path, err = runtimeproc.BuildProgram(context.Background(), dir, b.pkg); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.RemoveAll(dir)
			os.Exit(1)
		}
	}
	code := 0
	if err := goleak.Find(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	code = m.Run()
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreCurrent()); err != nil {
			fmt.Fprintln(os.Stderr, "leaked goroutines:", err)
			code = 1
		}
	}
	os.RemoveAll(dir)
	os.Exit(code)
}
