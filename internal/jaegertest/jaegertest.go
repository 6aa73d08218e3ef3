// Package jaegertest runs a real Jaeger for tests: Jaeger v2 built from the
// tools module tools/jaeger (pinned there), with the configuration
// tools/jaeger/config.yaml: in-memory storage, an OTLP/HTTP receiver and
// the query API, each on a free port of 127.0.0.1. It reads traces back
// through the query API (/api/v3, whose traces are OTLP JSON).
//
// test.sh builds the binary into tools/jaeger/jaeger; tests that need it
// are skipped when it is missing.
package jaegertest

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"testing"
	"time"

	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
)

// BuildHint says how to build the binary [Start] runs.
const BuildHint = "cd tools/jaeger && go build -o jaeger github.com/jaegertracing/jaeger/cmd/jaeger"

// startTimeout bounds how long Jaeger may take to serve once started.
const startTimeout = 60 * time.Second

// Jaeger is a running Jaeger process and where to reach it.
type Jaeger struct {
	// OTLPEndpoint is the base URL of the OTLP/HTTP receiver, the value for
	// OTEL_EXPORTER_OTLP_ENDPOINT, such as http://127.0.0.1:43181.
	OTLPEndpoint string
	// QueryURL is the base URL of the query API and UI.
	QueryURL string

	bin, config string
	env         []string // the JAEGER_* addresses
	otlpAddr    string
	client      *http.Client
	proc        *runtimeproc.Process // the current process; nil when stopped
}

// Start starts Jaeger on free loopback ports and waits until its query API
// and OTLP receiver accept connections. It is killed, if still running,
// when the test ends, and its output is logged if the test failed. The
// test is skipped when the binary has not been built.
func Start(t testing.TB) *Jaeger {
	t.Helper()
	root, err := runtimeproc.ModuleRoot()
	if err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(root, "tools", "jaeger", "jaeger")
	if _, err := os.Stat(bin); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("jaeger not built (test.sh builds it: %s): %v", BuildHint, err)
		}
		t.Skipf("jaeger not built (run ./test.sh, or %s): %v", BuildHint, err)
	}
	ports := make([]int, 3)
	for i := range ports {
		if ports[i], err = runtimeproc.FreePort(); err != nil {
			t.Fatal(err)
		}
	}
	addr := func(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }
	tr := &http.Transport{Proxy: nil}
	t.Cleanup(tr.CloseIdleConnections)
	j := &Jaeger{
		OTLPEndpoint: "http://" + addr(ports[0]),
		QueryURL:     "http://" + addr(ports[1]),
		bin:          bin,
		config:       filepath.Join(root, "tools", "jaeger", "config.yaml"),
		env: []string{
			"JAEGER_OTLP_HTTP=" + addr(ports[0]),
			"JAEGER_QUERY_HTTP=" + addr(ports[1]),
			"JAEGER_QUERY_GRPC=" + addr(ports[2]),
		},
		otlpAddr: addr(ports[0]),
		client:   &http.Client{Transport: tr, Timeout: 10 * time.Second},
	}
	t.Cleanup(func() {
		if j.proc != nil {
			j.proc.Kill()
			if t.Failed() {
				t.Logf("jaeger log:\n%s", j.proc.Output())
			}
		}
	})
	j.start(t)
	return j
}

// start runs the binary on j's ports and waits until it serves.
func (j *Jaeger) start(t testing.TB) {
	t.Helper()
	cmd := exec.Command(j.bin, "--config", j.config)
	cmd.Env = runtimeproc.CleanEnv(j.env...) // no OTEL_* of the test's environment
	p, err := runtimeproc.Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	j.proc = p
	ctx, cancel := context.WithTimeout(t.Context(), startTimeout)
	defer cancel()
	for {
		if j.ready(ctx) {
			return
		}
		select {
		case <-p.Done():
			t.Fatalf("jaeger exited before serving: %v\n%s", p.ExitErr(), p.Output())
		case <-ctx.Done():
			t.Fatalf("jaeger did not serve within %v:\n%s", startTimeout, p.Output())
		case <-time.After(50 * time.Millisecond): // polling the ports Jaeger opens
		}
	}
}

// ready reports whether the query API answers and the OTLP receiver
// accepts connections; the receiver starts after the query extension.
func (j *Jaeger) ready(ctx context.Context) bool {
	if _, err := j.Services(ctx); err != nil {
		return false
	}
	c, err := (&net.Dialer{Timeout: time.Second}).DialContext(ctx, "tcp", j.otlpAddr)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

// Stop ends Jaeger with SIGTERM and waits for it to exit; the traces it
// held are lost.
func (j *Jaeger) Stop(t testing.TB) {
	t.Helper()
	if err := j.proc.Stop(10 * time.Second); err != nil {
		t.Logf("stopping jaeger: %v", err)
		t.Logf("jaeger log:\n%s", j.proc.Output())
	} else if t.Failed() {
		t.Logf("jaeger log:\n%s", j.proc.Output())
	}
	j.proc = nil
}

// Restart starts a stopped Jaeger again on the same ports, with empty
// storage.
func (j *Jaeger) Restart(t testing.TB) {
	t.Helper()
	if j.proc != nil {
		t.Fatal("jaeger is running")
	}
	j.start(t)
}

// Services returns the service names Jaeger has received spans from.
func (j *Jaeger) Services(ctx context.Context) ([]string, error) {
	var out struct {
		Services []string `json:"services"`
	}
	if err := j.get(ctx, "/api/v3/services", &out); err != nil {
		return nil, err
	}
	sort.Strings(out.Services)
	return out.Services, nil
}

// ErrNotFound is returned by [Jaeger.Trace] for a trace Jaeger does not
// hold.
var ErrNotFound = errors.New("trace not found")

// Span is a span as Jaeger's query API returns it, flattened.
type Span struct {
	Service       string // service.name of its resource
	TraceID       string // lowercase hex
	SpanID        string
	ParentSpanID  string // "" for a root span
	Name          string
	StatusCode    int // 0 unset, 1 ok, 2 error (OTLP status codes)
	StatusMessage string
	// Attributes holds the span's attributes, each value in its JSON
	// form's text: strings as is, numbers and booleans as written.
	Attributes map[string]string
	// Resource holds the attributes of the span's resource, likewise.
	Resource map[string]string
}

// Trace returns the spans Jaeger holds for traceID (lowercase hex), or
// ErrNotFound.
func (j *Jaeger) Trace(ctx context.Context, traceID string) ([]Span, error) {
	var out struct {
		Result struct {
			ResourceSpans []struct {
				Resource struct {
					Attributes []keyValue `json:"attributes"`
				} `json:"resource"`
				ScopeSpans []struct {
					Spans []struct {
						TraceID      string     `json:"traceId"`
						SpanID       string     `json:"spanId"`
						ParentSpanID string     `json:"parentSpanId"`
						Name         string     `json:"name"`
						Attributes   []keyValue `json:"attributes"`
						Status       struct {
							Code    int    `json:"code"`
							Message string `json:"message"`
						} `json:"status"`
					} `json:"spans"`
				} `json:"scopeSpans"`
			} `json:"resourceSpans"`
		} `json:"result"`
	}
	if err := j.get(ctx, "/api/v3/traces/"+traceID, &out); err != nil {
		return nil, err
	}
	var spans []Span
	for _, rs := range out.Result.ResourceSpans {
		res := flatten(rs.Resource.Attributes)
		for _, ss := range rs.ScopeSpans {
			for _, s := range ss.Spans {
				spans = append(spans, Span{
					Service: res["service.name"], TraceID: s.TraceID, SpanID: s.SpanID, ParentSpanID: s.ParentSpanID,
					Name: s.Name, StatusCode: s.Status.Code, StatusMessage: s.Status.Message,
					Attributes: flatten(s.Attributes), Resource: res,
				})
			}
		}
	}
	return spans, nil
}

// AwaitTrace polls Jaeger until it holds at least n spans of traceID and
// returns them; spans reach it in batches, some time after they end.
func (j *Jaeger) AwaitTrace(ctx context.Context, traceID string, n int) ([]Span, error) {
	for {
		spans, err := j.Trace(ctx, traceID)
		if err != nil && !errors.Is(err, ErrNotFound) {
			return nil, err
		}
		if len(spans) >= n {
			return spans, nil
		}
		select {
		case <-ctx.Done():
			return spans, fmt.Errorf("trace %s: %d of %d spans in jaeger: %w", traceID, len(spans), n, context.Cause(ctx))
		case <-time.After(100 * time.Millisecond): // polling: Jaeger has no notification
		}
	}
}

// keyValue is an OTLP JSON attribute.
type keyValue struct {
	Key   string                     `json:"key"`
	Value map[string]json.RawMessage `json:"value"`
}

// flatten maps OTLP JSON attributes to the text of their values.
func flatten(kvs []keyValue) map[string]string {
	m := make(map[string]string, len(kvs))
	for _, kv := range kvs {
		for _, raw := range kv.Value {
			var s string
			if json.Unmarshal(raw, &s) == nil {
				m[kv.Key] = s
			} else {
				m[kv.Key] = string(raw)
			}
		}
	}
	return m
}

// get GETs path from the query API and decodes its JSON body into v.
func (j *Jaeger) get(ctx context.Context, path string, v any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, j.QueryURL+path, nil)
	if err != nil {
		return err
	}
	resp, err := j.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	switch resp.StatusCode {
	case http.StatusOK:
	case http.StatusNotFound:
		return fmt.Errorf("GET %s: %w", path, ErrNotFound)
	default:
		return fmt.Errorf("GET %s: %s: %s", path, resp.Status, body)
	}
	if err := json.Unmarshal(body, v); err != nil {
		return fmt.Errorf("GET %s: %w", path, err)
	}
	return nil
}
