// Package telemetrytest starts the real Genkit telemetry server (npm
// @genkit-ai/telemetry-server, pinned in e2e/node) for tests.
package telemetrytest

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
)

// telemetryServerJS starts the pinned @genkit-ai/telemetry-server on an
// ephemeral 127.0.0.1 port, prints "LISTENING <port>", and exits when its
// stdin closes.
const telemetryServerJS = `
const path = require('path');
const http = require('http');
const [nodeModules, root] = process.argv.slice(2);
const listen = http.Server.prototype.listen;
http.Server.prototype.listen = function (...args) {
  this.once('listening', () => process.stdout.write('LISTENING ' + this.address().port + '\n'));
  return listen.apply(this, args);
};
const req = require('module').createRequire(path.join(nodeModules, 'noop.js'));
const ts = req('@genkit-ai/telemetry-server');
ts.startTelemetryServer({
  port: 0,
  traceStore: new ts.LocalFileTraceStore({ storeRoot: root, indexRoot: root }),
  logStore: new ts.LocalFileLogStore({ storeRoot: root, indexRoot: root }),
});
process.stdin.on('end', () => process.exit(0));
process.stdin.resume();
`

// Start runs the real Genkit telemetry server from e2e/node/node_modules
// and returns its base URL; it is stopped when the test ends. The server
// validates every POSTed TraceData with its zod TraceDataSchema and answers
// 500 when validation fails. The test is skipped when node or the modules
// are missing.
func Start(t testing.TB) string {
	t.Helper()
	root, err := runtimeproc.ModuleRoot()
	nodeModules := filepath.Join(root, "e2e", "node", "node_modules")
	if err != nil {
		t.Skipf("real telemetry server unavailable: %v", err)
	}
	if _, err := os.Stat(filepath.Join(nodeModules, "@genkit-ai", "telemetry-server", "package.json")); err != nil {
		t.Skipf("real telemetry server unavailable (run npm install in e2e/node): %v", err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		t.Skipf("real telemetry server unavailable: node not found: %v", err)
	}
	dir := t.TempDir()
	script := filepath.Join(dir, "telemetry-server.js")
	if err := os.WriteFile(script, []byte(telemetryServerJS), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(node, script, nodeModules, dir)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ports := make(chan string, 1)
	readDone := make(chan struct{})
	go func() {
		defer close(readDone)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			if p, ok := strings.CutPrefix(sc.Text(), "LISTENING "); ok {
				ports <- p
			}
		}
	}()
	t.Cleanup(func() {
		stdin.Close() // the script exits when stdin ends
		exited := make(chan error, 1)
		go func() { <-readDone; exited <- cmd.Wait() }()
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	select {
	case p := <-ports:
		return "http://127.0.0.1:" + p
	case <-readDone:
		t.Fatalf("telemetry server exited before listening: %s", stderr.String())
	case <-time.After(30 * time.Second):
		t.Fatalf("telemetry server did not start: %s", stderr.String())
	}
	return ""
}
