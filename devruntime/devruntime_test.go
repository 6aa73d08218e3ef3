package devruntime_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.uber.org/goleak"

	"github.com/genkit-runtime/genkit-runtime/devruntime"
	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
	"github.com/genkit-runtime/genkit-runtime/reflection"
	"github.com/genkit-runtime/genkit-runtime/registry"
	"github.com/genkit-runtime/genkit-runtime/runtimefile"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// newProject returns a fresh project root: a folder holding a go.mod.
func newProject(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "go.mod"), []byte("module example.com/app\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// helloRegistry returns a registry with the flow "hello".
func helloRegistry(t *testing.T) *registry.Registry {
	t.Helper()
	reg := registry.New(nil)
	if _, err := registry.DefineFlow(reg, "hello", func(ctx context.Context, name string) (string, error) {
		return "Hello, " + name + "!", nil
	}, nil); err != nil {
		t.Fatal(err)
	}
	return reg
}

func freePort(t *testing.T) int {
	t.Helper()
	port, err := runtimeproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	return port
}

// waitRuntimeFile waits for the one runtime file of root and returns it.
func waitRuntimeFile(t *testing.T, root string, serveErr <-chan error) runtimefile.Info {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		files, _ := filepath.Glob(filepath.Join(runtimefile.Dir(root), "*.json"))
		if len(files) == 1 {
			data, err := os.ReadFile(files[0])
			if err == nil {
				if info, err := runtimefile.Parse(data); err == nil {
					return info
				}
			}
		}
		select {
		case err := <-serveErr:
			t.Fatalf("Serve returned %v before writing its runtime file", err)
		case <-time.After(10 * time.Millisecond):
		}
	}
	t.Fatal("no runtime file")
	return runtimefile.Info{}
}

func runtimeFiles(t *testing.T, root string) []string {
	t.Helper()
	files, _ := filepath.Glob(filepath.Join(runtimefile.Dir(root), "*.json"))
	return files
}

func post(t *testing.T, url, body string) (int, string, http.Header) {
	t.Helper()
	resp, err := http.Post(url, "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), resp.Header
}

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestServe serves a registry with one call, runs a flow the way the CLI
// does, and stops it through its context.
func TestServe(t *testing.T) {
	root := newProject(t)
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	serveErr := make(chan error, 1)
	go func() {
		serveErr <- devruntime.Serve(ctx, helloRegistry(t), &devruntime.Options{
			Name: "app", Port: freePort(t), ProjectRoot: root, RuntimeID: "app-1",
		})
	}()
	info := waitRuntimeFile(t, root, serveErr)
	if info.ID != "app-1" || info.Name != "app" || !strings.HasPrefix(info.ReflectionServerURL, "http://127.0.0.1:") ||
		info.PID != os.Getpid() || info.GenkitVersion != "genkit-runtime/"+devruntime.Version || info.ReflectionAPISpecVersion != reflection.SpecVersion {
		t.Errorf("runtime file = %+v", info)
	}
	if code, body := get(t, info.ReflectionServerURL+"/api/__health?id=app-1"); code != 200 || body != "OK" {
		t.Errorf("health with the runtime ID = %d %q", code, body)
	}
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(info.ReflectionServerURL, "http://"))
	if code, _ := get(t, info.ReflectionServerURL+"/api/__health?id="+strconv.Itoa(os.Getpid())+"-"+port); code != 200 {
		t.Errorf("health with the default ID = %d", code)
	}
	if code, _ := get(t, info.ReflectionServerURL+"/api/__health?id=other"); code != 503 {
		t.Errorf("health with another ID = %d; want 503", code)
	}
	code, body, hdr := post(t, info.ReflectionServerURL+"/api/runAction", `{"key":"/flow/hello","input":"Ann"}`)
	if code != 200 || !strings.Contains(body, `"result":"Hello, Ann!"`) || hdr.Get(reflection.HeaderVersion) != devruntime.Version {
		t.Fatalf("runAction = %d %s %v", code, body, hdr)
	}
	var rr struct {
		Telemetry struct {
			TraceID string `json:"traceId"`
		} `json:"telemetry"`
	}
	json.Unmarshal([]byte(body), &rr)
	if code, body := get(t, info.ReflectionServerURL+"/api/traces/"+rr.Telemetry.TraceID); code != 200 || !strings.Contains(body, `"displayName":"hello"`) {
		t.Errorf("the run's trace in the store = %d %s", code, body)
	}

	cancel()
	select {
	case err := <-serveErr:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its context ended")
	}
	if f := runtimeFiles(t, root); len(f) != 0 {
		t.Errorf("runtime files left: %v", f)
	}
}

// TestQuit stops a served runtime through /api/__quitquitquit: the answer
// arrives, then Serve returns.
func TestQuit(t *testing.T) {
	root := newProject(t)
	serveErr := make(chan error, 1)
	go func() {
		serveErr <- devruntime.Serve(t.Context(), helloRegistry(t), &devruntime.Options{Port: freePort(t), ProjectRoot: root})
	}()
	info := waitRuntimeFile(t, root, serveErr)
	if code, body := get(t, info.ReflectionServerURL+"/api/__quitquitquit"); code != 200 || body != "OK" {
		t.Errorf("quit = %d %q", code, body)
	}
	select {
	case err := <-serveErr:
		if err != nil {
			t.Errorf("Serve = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after quit")
	}
	if f := runtimeFiles(t, root); len(f) != 0 {
		t.Errorf("runtime files left: %v", f)
	}
}

// TestServeErrors checks that what keeps a runtime from starting is
// returned, and nothing is left behind.
func TestServeErrors(t *testing.T) {
	t.Run("no free port in the range", func(t *testing.T) {
		// Another loopback address, so the range stays free on 127.0.0.1
		// for everything else.
		const host = "127.0.0.42"
		var ls []net.Listener
		defer func() {
			for _, l := range ls {
				l.Close()
			}
		}()
		for p := devruntime.FirstPort; p <= devruntime.LastPort; p++ {
			l, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(p)))
			if err != nil {
				continue // taken already: just as good
			}
			ls = append(ls, l)
		}
		root := newProject(t)
		err := devruntime.Serve(t.Context(), helloRegistry(t), &devruntime.Options{Host: host, ProjectRoot: root})
		if err == nil || !strings.Contains(err.Error(), "no free port in 3100..3199") {
			t.Errorf("Serve = %v; want no free port in 3100..3199", err)
		}
	})
	t.Run("port taken", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer l.Close()
		err = devruntime.Serve(t.Context(), helloRegistry(t), &devruntime.Options{Port: l.Addr().(*net.TCPAddr).Port, ProjectRoot: newProject(t)})
		if err == nil || !strings.Contains(err.Error(), "address already in use") {
			t.Errorf("Serve = %v; want address already in use", err)
		}
	})
	t.Run("project root not writable", func(t *testing.T) {
		// A file where the .genkit folder goes: no runtime file can be
		// written, whoever runs the test.
		root := newProject(t)
		if err := os.WriteFile(filepath.Join(root, ".genkit"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
		port := freePort(t)
		err := devruntime.Serve(t.Context(), helloRegistry(t), &devruntime.Options{Port: port, ProjectRoot: root})
		if err == nil || !strings.Contains(err.Error(), "could not discover this runtime") {
			t.Errorf("Serve = %v; want the runtime file error", err)
		}
		// The listener is closed again.
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			t.Errorf("the port is still taken after the failed start: %v", err)
		} else {
			l.Close()
		}
	})
	t.Run("bad OTLP endpoint", func(t *testing.T) {
		for _, e := range []string{"localhost:4318", "ftp://collector/v1/traces", "http://"} {
			_, err := devruntime.New(t.Context(), helloRegistry(t), &devruntime.Options{OTLP: devruntime.OTLPOptions{Endpoint: e}})
			if err == nil || !strings.Contains(err.Error(), "want an http or https URL") {
				t.Errorf("New with OTLP endpoint %q = %v; want an OTLP endpoint error", e, err)
			}
			_, err = devruntime.OptionsFromEnv(func(k string) string {
				if k == "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT" {
					return e
				}
				return ""
			})
			if err == nil {
				t.Errorf("OptionsFromEnv with OTEL_EXPORTER_OTLP_TRACES_ENDPOINT=%q succeeded", e)
			}
		}
	})
	t.Run("bad CORS origin", func(t *testing.T) {
		_, err := devruntime.New(t.Context(), helloRegistry(t), &devruntime.Options{CORSOrigins: []string{"not an origin"}})
		if err == nil {
			t.Error("New accepted a malformed CORS origin")
		}
	})
}

// TestMount serves the runtime's handler in the app's own server, beside
// the app's own route, and announces it.
func TestMount(t *testing.T) {
	root := newProject(t)
	rt, err := devruntime.New(t.Context(), helloRegistry(t), &devruntime.Options{Name: "shop", ProjectRoot: root})
	if err != nil {
		t.Fatal(err)
	}
	defer rt.Close(context.Background())
	mux := http.NewServeMux()
	mux.HandleFunc("GET /orders", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "[]") })
	mux.Handle("/api/", rt.Handler())
	srv := httptest.NewServer(mux)
	defer srv.Close()

	rf, err := rt.Announce(srv.Listener.Addr())
	if err != nil {
		t.Fatal(err)
	}
	info := rf.Info()
	if info.ReflectionServerURL != srv.URL || info.Name != "shop" {
		t.Errorf("announced %+v; want %s", info, srv.URL)
	}
	if code, body := get(t, srv.URL+"/orders"); code != 200 || body != "[]" {
		t.Errorf("the app's route = %d %q", code, body)
	}
	if code, _ := get(t, srv.URL+"/api/__health?id="+info.ID); code != 200 {
		t.Errorf("health = %d", code)
	}
	if code, body, _ := post(t, srv.URL+"/api/runAction", `{"key":"/flow/hello","input":"Bo"}`); code != 200 || !strings.Contains(body, "Hello, Bo!") {
		t.Errorf("runAction = %d %s", code, body)
	}
	if err := rf.Remove(); err != nil {
		t.Fatal(err)
	}
	if f := runtimeFiles(t, root); len(f) != 0 {
		t.Errorf("runtime files left: %v", f)
	}
	// Quit is the app's to act on.
	get(t, srv.URL+"/api/__quitquitquit")
	select {
	case <-rt.Quit():
	case <-time.After(5 * time.Second):
		t.Error("Quit was not closed by /api/__quitquitquit")
	}
}

// TestGuards checks the middleware in front of the handler: Host and
// Origin checks and CORS.
func TestGuards(t *testing.T) {
	for _, tc := range []struct {
		name      string
		opts      devruntime.Options
		method    string
		host      string
		origin    string
		wantCode  int
		wantRuns  int32
		wantAllow string
	}{
		{name: "CLI: no Origin, localhost", method: "POST", host: "localhost:3100", wantCode: 200, wantRuns: 1},
		{name: "foreign Host (DNS rebinding)", method: "POST", host: "evil.example:3100", wantCode: 403},
		{name: "foreign Origin", method: "POST", host: "127.0.0.1:3100", origin: "http://evil.example", wantCode: 403},
		{name: "Developer UI origin", method: "POST", host: "localhost:3100", origin: "http://localhost:4000", wantCode: 200, wantRuns: 1, wantAllow: "http://localhost:4000"},
		{name: "preflight from an allowed origin", method: "OPTIONS", host: "localhost:3100", origin: "http://127.0.0.1:4000", wantCode: 204, wantAllow: "http://127.0.0.1:4000"},
		{name: "CORSOrigins replaces the default", opts: devruntime.Options{CORSOrigins: []string{"https://ui.example.com"}}, method: "POST", host: "localhost:3100", origin: "http://localhost:4000", wantCode: 403},
		{name: "CORSOrigins allows its origin", opts: devruntime.Options{CORSOrigins: []string{"https://ui.example.com"}}, method: "POST", host: "localhost:3100", origin: "https://ui.example.com", wantCode: 200, wantRuns: 1, wantAllow: "https://ui.example.com"},
		{name: "AllowedHosts", opts: devruntime.Options{AllowedHosts: []string{"dev.box"}}, method: "POST", host: "dev.box:3100", wantCode: 200, wantRuns: 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var runs atomic.Int32
			reg := registry.New(nil)
			registry.DefineFlow(reg, "touch", func(ctx context.Context, in string) (string, error) {
				runs.Add(1)
				return in, nil
			}, nil)
			rt, err := devruntime.New(t.Context(), reg, &tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			defer rt.Close(context.Background())
			srv := httptest.NewServer(rt.Handler())
			defer srv.Close()
			req, _ := http.NewRequest(tc.method, srv.URL+"/api/runAction", strings.NewReader(`{"key":"/flow/touch","input":"x"}`))
			req.Host = tc.host
			if tc.origin != "" {
				req.Header.Set("Origin", tc.origin)
			}
			if tc.method == "OPTIONS" {
				req.Header.Set("Access-Control-Request-Method", "POST")
				req.Header.Set("Access-Control-Request-Headers", "content-type")
			}
			resp, err := srv.Client().Do(req)
			if err != nil {
				t.Fatal(err)
			}
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.wantCode {
				t.Errorf("status = %d (%s); want %d", resp.StatusCode, body, tc.wantCode)
			}
			if got := runs.Load(); got != tc.wantRuns {
				t.Errorf("the action ran %d times; want %d", got, tc.wantRuns)
			}
			if got := resp.Header.Get("Access-Control-Allow-Origin"); got != tc.wantAllow {
				t.Errorf("Access-Control-Allow-Origin = %q; want %q", got, tc.wantAllow)
			}
			if tc.wantAllow != "" && tc.method == "POST" {
				exposed := strings.ToLower(resp.Header.Get("Access-Control-Expose-Headers"))
				for _, h := range []string{reflection.HeaderTraceID, reflection.HeaderSpanID, reflection.HeaderVersion} {
					if !strings.Contains(exposed, strings.ToLower(h)) {
						t.Errorf("Access-Control-Expose-Headers = %q lacks %s", exposed, h)
					}
				}
			}
		})
	}
}

// TestSharedTracerProvider makes a span of the app's own inside an action,
// with the app's provider shared with the runtime: the span is a child of
// the run's span in the trace store.
func TestSharedTracerProvider(t *testing.T) {
	tp := sdktrace.NewTracerProvider()
	defer tp.Shutdown(context.Background())
	reg := registry.New(nil)
	registry.DefineFlow(reg, "lookup", func(ctx context.Context, in string) (string, error) {
		_, span := tp.Tracer("example.com/app/db").Start(ctx, "SELECT orders")
		span.End()
		return in, nil
	}, nil)
	rt, err := devruntime.New(t.Context(), reg, &devruntime.Options{TracerProvider: tp})
	if err != nil {
		t.Fatal(err)
	}
	if rt.TracerProvider() != tp {
		t.Error("TracerProvider is not the app's")
	}
	srv := httptest.NewServer(rt.Handler())
	defer srv.Close()
	_, _, hdr := post(t, srv.URL+"/api/runAction", `{"key":"/flow/lookup","input":"x"}`)
	traceID := hdr.Get(reflection.HeaderTraceID)
	code, body := get(t, srv.URL+"/api/traces/"+traceID)
	if code != 200 {
		t.Fatalf("trace = %d %s", code, body)
	}
	var td struct {
		Spans map[string]struct {
			SpanID       string `json:"spanId"`
			ParentSpanID string `json:"parentSpanId"`
			DisplayName  string `json:"displayName"`
		} `json:"spans"`
	}
	if err := json.Unmarshal([]byte(body), &td); err != nil {
		t.Fatal(err)
	}
	var rootID, childParent string
	for _, s := range td.Spans {
		switch s.DisplayName {
		case "lookup":
			rootID = s.SpanID
		case "SELECT orders":
			childParent = s.ParentSpanID
		}
	}
	if rootID == "" || childParent != rootID {
		t.Errorf("the app's span is not a child of the run's span: %s", body)
	}
	// Closing the runtime leaves the app's provider working.
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, span := tp.Tracer("t").Start(context.Background(), "after")
	span.End()
}

// TestOTLPExport sends a run's spans to an OTLP/HTTP collector configured
// the standard way, through OTEL_EXPORTER_OTLP_ENDPOINT.
func TestOTLPExport(t *testing.T) {
	t.Run("Name", func(t *testing.T) { testOTLPExport(t, "", "shop") })
	t.Run("OTEL_SERVICE_NAME", func(t *testing.T) { testOTLPExport(t, "billing", "billing") })
}

// testOTLPExport exports a run with Name "shop" and the given
// OTEL_SERVICE_NAME, and checks the spans arrive under wantService.
func testOTLPExport(t *testing.T, envService, wantService string) {
	var (
		mu     sync.Mutex
		bodies [][]byte
		paths  []string
	)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, b)
		paths = append(paths, r.Method+" "+r.URL.Path+" "+r.Header.Get("Content-Type"))
		mu.Unlock()
		w.Header().Set("Content-Type", "application/x-protobuf")
	}))
	defer collector.Close()
	opts, err := devruntime.OptionsFromEnv(func(k string) string {
		switch k {
		case "OTEL_EXPORTER_OTLP_ENDPOINT":
			return collector.URL
		case "OTEL_SERVICE_NAME":
			return envService
		}
		return ""
	})
	if err != nil {
		t.Fatal(err)
	}
	if opts.OTLP.Endpoint != collector.URL+"/v1/traces" {
		t.Errorf("OTLP.Endpoint = %q", opts.OTLP.Endpoint)
	}
	opts.Name = "shop"
	reg := helloRegistry(t)
	rt, err := devruntime.New(t.Context(), reg, opts)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(rt.Handler())
	defer srv.Close()
	post(t, srv.URL+"/api/runAction", `{"key":"/flow/hello","input":"x"}`)
	if err := rt.Close(context.Background()); err != nil { // flushes the batch
		t.Fatal(err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(paths) == 0 || paths[0] != "POST /v1/traces application/x-protobuf" {
		t.Fatalf("collector requests = %q", paths)
	}
	all := bytes.Join(bodies, nil)
	for _, want := range []string{"genkit-tracer", "genkit:path", "/{hello,t:flow}", "service.name", wantService} {
		if !bytes.Contains(all, []byte(want)) {
			t.Errorf("exported spans lack %q", want)
		}
	}
	if envService != "" && bytes.Contains(all, []byte("shop")) {
		t.Errorf("OTEL_SERVICE_NAME=%s did not replace the runtime's name", envService)
	}
}

func TestOptionsFromEnv(t *testing.T) {
	env := map[string]string{
		"GENKIT_REFLECTION_HOST":             "127.0.0.2",
		"GENKIT_REFLECTION_PORT":             "3155",
		"GENKIT_RUNTIME_ID":                  "rt-1",
		"GENKIT_TELEMETRY_SERVER":            "http://localhost:4033",
		"GENKIT_ENABLE_REALTIME_TELEMETRY":   "true",
		"GENKIT_REFLECTION_V2_SERVER":        "ws://localhost:3200",
		"OTEL_EXPORTER_OTLP_ENDPOINT":        "http://localhost:4318/",
		"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "",
	}
	o, err := devruntime.OptionsFromEnv(func(k string) string { return env[k] })
	if err != nil {
		t.Fatal(err)
	}
	want := devruntime.Options{Host: "127.0.0.2", Port: 3155, RuntimeID: "rt-1", TelemetryServerURL: "http://localhost:4033",
		RealtimeTelemetry: true, ReflectionV2Server: "ws://localhost:3200", OTLP: devruntime.OTLPOptions{Endpoint: "http://localhost:4318/v1/traces"}}
	if o.Host != want.Host || o.Port != want.Port || o.RuntimeID != want.RuntimeID || o.TelemetryServerURL != want.TelemetryServerURL ||
		o.RealtimeTelemetry != want.RealtimeTelemetry || o.ReflectionV2Server != want.ReflectionV2Server || o.OTLP.Endpoint != want.OTLP.Endpoint {
		t.Errorf("OptionsFromEnv = %+v; want %+v", *o, want)
	}
	env["OTEL_EXPORTER_OTLP_TRACES_ENDPOINT"] = "http://collector:4318/custom"
	if o, _ := devruntime.OptionsFromEnv(func(k string) string { return env[k] }); o.OTLP.Endpoint != "http://collector:4318/custom" {
		t.Errorf("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT does not take precedence: %q", o.OTLP.Endpoint)
	}
	for _, p := range []string{"x", "0", "70000"} {
		env["GENKIT_REFLECTION_PORT"] = p
		if _, err := devruntime.OptionsFromEnv(func(k string) string { return env[k] }); err == nil {
			t.Errorf("GENKIT_REFLECTION_PORT=%q accepted", p)
		}
	}
	if o, err := devruntime.OptionsFromEnv(func(string) string { return "" }); err != nil || o.Port != 0 || o.OTLP.Endpoint != "" {
		t.Errorf("empty environment = %+v, %v", o, err)
	}
}

// TestStaleRuntimeFiles starts a runtime in a project holding the runtime
// file of a process that is gone and one of a live process: the first is
// removed, the second kept.
func TestStaleRuntimeFiles(t *testing.T) {
	root := newProject(t)
	dead := deadPID(t)
	write := func(id string, pid int) string {
		f, err := runtimefile.Write(root, runtimefile.Info{ID: id, PID: pid, ReflectionServerURL: "http://127.0.0.1:1"})
		if err != nil {
			t.Fatal(err)
		}
		return f.Path()
	}
	stale := write("gone", dead)
	live := write("live", os.Getppid())
	ctx, cancel := context.WithCancel(t.Context())
	serveErr := make(chan error, 1)
	go func() {
		serveErr <- devruntime.Serve(ctx, helloRegistry(t), &devruntime.Options{Port: freePort(t), ProjectRoot: root, RuntimeID: "new"})
	}()
	defer func() {
		cancel()
		<-serveErr
	}()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if m, _ := filepath.Glob(filepath.Join(runtimefile.Dir(root), "new-*.json")); len(m) == 1 {
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	files := runtimeFiles(t, root)
	if _, err := os.Stat(stale); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("the file of dead pid %d was kept: %v", dead, files)
	}
	if _, err := os.Stat(live); err != nil {
		t.Errorf("the file of a live process was removed: %v", err)
	}
	if len(files) != 2 {
		t.Errorf("runtime files = %v; want the live one and the new one", files)
	}
}
