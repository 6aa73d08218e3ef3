// Package e2e holds the end-to-end tests of genkit-runtime: the built
// binary driven by the real Genkit CLI (npm genkit-cli, pinned in
// e2e/node/package-lock.json) over loopback.
package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"go.uber.org/goleak"
)

// binary is the genkit-runtime binary built once for the package.
var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "genkit-runtime-e2e-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binary = filepath.Join(dir, "genkit-runtime")
	build := exec.Command("go", "build", "-o", binary, "../cmd/genkit-runtime")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building genkit-runtime:", err)
		os.RemoveAll(dir)
		os.Exit(1)
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
