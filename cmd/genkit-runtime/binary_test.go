package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
)

// This file holds the helpers of the binary-level tests: they build the
// genkit-runtime binary once per test run and start it as a real process
// in a temporary project directory.

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m, goleak.Cleanup(func(code int) {
		removeBinary()
		os.Exit(code)
	}))
}

var (
	binaryOnce sync.Once
	binaryDir  string // holds the built binary; removed by TestMain
	binaryPath string
	binaryErr  error
)

// testBinary returns the path of the genkit-runtime binary, building it
// (without -race, whatever the test binary was built with) on first use.
func testBinary(t testing.TB) string {
	t.Helper()
	binaryOnce.Do(func() {
		if binaryDir, binaryErr = os.MkdirTemp("", "genkit-runtime-bin-"); binaryErr != nil {
			return
		}
		binaryPath, binaryErr = runtimeproc.Build(context.Background(), binaryDir)
	})
	if binaryErr != nil {
		t.Fatal(binaryErr)
	}
	return binaryPath
}

func removeBinary() {
	if binaryDir != "" {
		os.RemoveAll(binaryDir)
	}
}

// runtimeProc is a genkit-runtime process started by a test.
type runtimeProc struct {
	*runtimeproc.Process
	root   string // the project root it was started in
	url    string // its reflection server URL, read from its runtime file; "" for a v2 runtime
	rfPath string // its runtime file; "" for a v2 runtime
}

// startRuntime starts the binary in a fresh project directory (one holding
// a package.json, so the runtime file goes to <dir>/.genkit/runtimes) on a
// free loopback port, with args and env added to a clean environment, and
// waits until its runtime file exists and it answers /api/__health. The
// process is killed, if still running, when the test ends.
func startRuntime(t testing.TB, args, env []string) *runtimeProc {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "package.json"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	p, rf, err := runtimeproc.StartRuntime(t.Context(), runtimeproc.RuntimeConfig{
		Binary: testBinary(t), Root: root, Args: args, Env: env,
	})
	if err != nil {
		t.Fatal(err)
	}
	endWithTest(t, p)
	return &runtimeProc{Process: p, root: root, url: rf.Info.ReflectionServerURL, rfPath: rf.Path}
}

// startV2Runtime starts the binary in a fresh directory with args and env
// added to a clean environment, without waiting for it: a reflection v2
// runtime serves no HTTP API of its own but connects to the manager named
// in env. The process is killed, if still running, when the test ends.
func startV2Runtime(t testing.TB, args, env []string) *runtimeProc {
	t.Helper()
	root := t.TempDir()
	cmd := exec.Command(testBinary(t), args...)
	cmd.Dir = root
	cmd.Env = runtimeproc.CleanEnv(env...)
	p, err := runtimeproc.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	endWithTest(t, p)
	return &runtimeProc{Process: p, root: root}
}

// endWithTest kills p, if still running, when the test ends, and then logs
// its output if the test failed.
func endWithTest(t testing.TB, p *runtimeproc.Process) {
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("genkit-runtime log:\n%s", p.Output())
		}
	})
}

// addr is the host:port the runtime listens on.
func (p *runtimeProc) addr() string { return strings.TrimPrefix(p.url, "http://") }

// signal sends sig to the process.
func (p *runtimeProc) signal(t testing.TB, sig os.Signal) {
	t.Helper()
	if err := p.Signal(sig); err != nil {
		t.Fatal(err)
	}
}

// wait waits at most timeout for the process to exit and returns its exit
// status.
func (p *runtimeProc) wait(t testing.TB, timeout time.Duration) int {
	t.Helper()
	ctx, cancel := context.WithTimeoutCause(context.Background(), timeout, fmt.Errorf("no exit within %v", timeout))
	defer cancel()
	code, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// newTestClient returns an HTTP client of its own, without a proxy, whose
// idle connections are closed when the test ends.
func newTestClient(t testing.TB) *http.Client {
	tr := &http.Transport{Proxy: nil}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}
}

// startRun posts a runAction request and returns as soon as the response
// headers are in; the caller reads and closes the body.
func startRun(ctx context.Context, client *http.Client, baseURL string, stream bool, body string) (*http.Response, error) {
	req, err := runtimeproc.RunRequest(ctx, baseURL, stream, body)
	if err != nil {
		return nil, err
	}
	return client.Do(req)
}

// runOnce posts a runAction request and returns its response with the
// whole body read.
func runOnce(ctx context.Context, client *http.Client, baseURL string, stream bool, body string) (*http.Response, string, error) {
	resp, err := startRun(ctx, client, baseURL, stream, body)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

// splitStream splits an NDJSON run body into its chunk lines and its final
// line, the text after the last newline.
func splitStream(body string) (chunks []string, final string) {
	i := strings.LastIndexByte(body, '\n')
	if i >= 0 {
		chunks = strings.Split(body[:i], "\n")
	}
	return chunks, body[i+1:]
}
