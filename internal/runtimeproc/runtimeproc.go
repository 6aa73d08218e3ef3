// Package runtimeproc starts runtimes as child processes and watches over
// them: the genkit-runtime binary of this module, or any other program run
// as a runtime. It builds the binary, gives a child an environment without
// the variables that change what a runtime does and a free loopback port,
// captures its output, tells when it is ready and when it has exited and
// with what status, and signals, stops or kills it.
//
// It serves the binary-level tests of cmd/genkit-runtime, the end-to-end
// tests, the load harness (bench) and the soak tool (bench/soak).
//
// A [Process] owns one goroutine, which waits for the child and ends when
// the child exits. [Process.Kill] and [Process.Stop] end the child and wait
// for that goroutine, so a caller that ends every process it starts leaks
// nothing. The package keeps no state of its own between calls.
package runtimeproc

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// Package is the import path of the genkit-runtime command, which [Build]
// builds.
const Package = "github.com/genkit-runtime/genkit-runtime/cmd/genkit-runtime"

// Build builds the genkit-runtime command into dir with "go build" and
// returns the path of the binary. The go command resolves [Package] from
// the working directory, so the caller must run inside this module, as its
// tests and "go run ./..." do. The binary is built with the default flags,
// without -race, whatever the caller was built with. ctx bounds the build.
// The error of a failed build carries the compiler's output.
func Build(ctx context.Context, dir string) (string, error) {
	return BuildProgram(ctx, dir, Package)
}

// BuildProgram builds the main package pkg (an import path or a ./ path
// resolved from the working directory) into dir, named after the last
// element of pkg, as [Build] builds genkit-runtime, and returns the path of
// the binary.
func BuildProgram(ctx context.Context, dir, pkg string) (string, error) {
	bin := filepath.Join(dir, filepath.Base(pkg))
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, pkg).CombinedOutput()
	if err != nil {
		return "", fmt.Errorf("building %s: %v\n%s", pkg, err, out)
	}
	return bin, nil
}

// CleanEnv returns the environment of the calling process without the
// variables that change what a runtime does, GENKIT_* and OTEL_*, followed
// by extra, which holds KEY=VALUE entries. The result is a new slice.
func CleanEnv(extra ...string) []string {
	env := os.Environ()
	out := make([]string, 0, len(env)+len(extra))
	for _, kv := range env {
		if strings.HasPrefix(kv, "GENKIT_") || strings.HasPrefix(kv, "OTEL_") {
			continue
		}
		out = append(out, kv)
	}
	return append(out, extra...)
}

// FreePort returns a TCP port of 127.0.0.1 that was free a moment ago.
// Another program may take it before the caller's child binds it;
// [StartRuntime] retries with another port when that happens.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// RunRequest returns the request that runs an action on the runtime whose
// reflection server is at baseURL: POST <baseURL>/api/runAction with body,
// a JSON run request such as {"key":"/flow/echo","input":1}, and with
// ?stream=true, which asks for the action's chunks as NDJSON before its
// final object, when stream is set. ctx is the request's context.
func RunRequest(ctx context.Context, baseURL string, stream bool, body string) (*http.Request, error) {
	u := baseURL + "/api/runAction"
	if stream {
		u += "?stream=true"
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	return req, nil
}

// ModuleRoot returns the directory of this module's go.mod, found by
// walking up from the working directory, as tests and "go run ./..." run
// inside the module.
func ModuleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no go.mod above the working directory")
		}
		dir = parent
	}
}
