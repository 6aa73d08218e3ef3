package traceexport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/genkit-runtime/genkit-runtime/tracestore"
)

// telemetryServerJS starts the pinned @genkit-ai/telemetry-server on an
// ephemeral 127.0.0.1 port, prints "LISTENING <port>", and exits when its
// stdin closes. The server validates every POSTed TraceData with its zod
// TraceDataSchema and answers 500 when validation fails.
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

// startTelemetryServer runs the real Genkit telemetry server from
// e2e/node/node_modules and returns its base URL. The test is skipped when
// node or the modules are missing.
func startTelemetryServer(t *testing.T) string {
	t.Helper()
	nodeModules, err := filepath.Abs(filepath.Join("..", "e2e", "node", "node_modules"))
	if err != nil {
		t.Fatal(err)
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

// getTrace reads a trace back from the telemetry server.
func getTrace(t *testing.T, base, traceID string) (tracestore.TraceData, bool) {
	t.Helper()
	resp, err := http.Get(base + "/api/traces/" + traceID)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("GET trace: %d %s", resp.StatusCode, b)
	}
	if len(b) == 0 {
		return tracestore.TraceData{}, false
	}
	td, err := tracestore.DecodeTraceData(b)
	if err != nil {
		t.Fatalf("GET trace: %v: %s", err, b)
	}
	return td, true
}

func TestRealTelemetryServer(t *testing.T) {
	base := startTelemetryServer(t)
	for _, realtime := range []bool{true, false} {
		name := map[bool]string{true: "realtime", false: "on-end"}[realtime]
		t.Run(name, func(t *testing.T) {
			exp := New(&Options{URL: base, Realtime: realtime})
			tracer := newTracer(t, exp)

			ctx, root := tracer.Start(context.Background(), "myFlow", trace.WithAttributes(
				attribute.String("genkit:type", "action"),
				attribute.String("genkit:metadata:subtype", "flow"),
				attribute.String("genkitx:suite", name),
			))
			traceID := root.SpanContext().TraceID().String()
			rootID := root.SpanContext().SpanID().String()
			if err := exp.FlushTrace(flushCtx(t), traceID); err != nil {
				t.Fatal(err)
			}
			td, ok := getTrace(t, base, traceID)
			if realtime {
				if !ok || td.Spans[rootID].EndTime != 0 {
					t.Fatalf("running root in the server: %v %+v; want it with endTime 0", ok, td.Spans[rootID])
				}
			} else if ok {
				t.Fatal("on-end exporter sent a running span")
			}

			_, model := tracer.Start(ctx, "echoModel", trace.WithAttributes(attribute.String("genkit:metadata:subtype", "model")))
			err := errors.New("model exploded")
			model.RecordError(err, trace.WithStackTrace(true))
			model.SetStatus(codes.Error, err.Error())
			model.End()
			root.SetAttributes(attribute.String("genkit:state", "error"), attribute.Bool("genkit:isRoot", true))
			root.End()
			if err := exp.FlushTrace(flushCtx(t), traceID); err != nil {
				t.Fatal(err)
			}

			td, ok = getTrace(t, base, traceID)
			if !ok || len(td.Spans) != 2 {
				t.Fatalf("trace in the server: %v, %d spans; want 2", ok, len(td.Spans))
			}
			if r := td.Spans[rootID]; r.EndTime == 0 || td.EndTime == nil || *td.EndTime != r.EndTime || *td.DisplayName != "myFlow" {
				t.Errorf("root not finished in the server: %+v (trace end %v)", r, td.EndTime)
			}
			m := td.Spans[model.SpanContext().SpanID().String()]
			if m.Status == nil || m.Status.Code != 2 || m.Status.Message != "model exploded" {
				t.Errorf("error span status = %+v", m.Status)
			}
			if m.TimeEvents == nil || len(m.TimeEvents.TimeEvent) != 1 ||
				m.TimeEvents.TimeEvent[0].Annotation.Description != "exception" ||
				m.TimeEvents.TimeEvent[0].Annotation.Attributes["exception.message"] != "model exploded" {
				t.Errorf("error span events = %+v", m.TimeEvents)
			}

			filter := `{"eq":{"genkitx:suite":"` + name + `","type":"flow"}}`
			resp, err := http.Get(base + "/api/traces?filter=" + strings.NewReplacer("{", "%7B", "}", "%7D", `"`, "%22").Replace(filter))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var page tracestore.ListResult
			if err := json.NewDecoder(resp.Body).Decode(&page); err != nil {
				t.Fatal(err)
			}
			if len(page.Traces) != 1 || page.Traces[0].TraceID != traceID {
				t.Errorf("listed %+v, want the trace", page.Traces)
			}
			if st := exp.Stats(); st.Failures != 0 || st.Posts == 0 {
				t.Errorf("Stats = %+v; the server rejected a post", st)
			}
		})
	}
}
