package otlp

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/encoding/protowire"
	"google.golang.org/protobuf/proto"
)

// reply is one answer of a scripted endpoint.
type reply struct {
	status      int
	header      map[string]string
	contentType string
	body        []byte
}

// scripted is an OTLP/HTTP endpoint that answers the requests it receives
// with its replies in turn, the last one for all requests after, and
// records the requests' headers and decoded bodies.
type scripted struct {
	*httptest.Server
	replies []reply

	mu       sync.Mutex // guards the fields below
	requests []*http.Request
	bodies   [][]byte // decompressed
}

func newScripted(t *testing.T, replies ...reply) *scripted {
	s := &scripted{replies: replies}
	s.Server = httptest.NewServer(s)
	t.Cleanup(s.Close)
	return s
}

func (s *scripted) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, ok := requestBody(w, r)
	if !ok {
		return
	}
	s.mu.Lock()
	rep := s.replies[min(len(s.requests), len(s.replies)-1)]
	s.requests = append(s.requests, r)
	s.bodies = append(s.bodies, b)
	s.mu.Unlock()
	for k, v := range rep.header {
		w.Header().Set(k, v)
	}
	if rep.contentType != "" {
		w.Header().Set("Content-Type", rep.contentType)
	}
	if rep.status != 0 {
		w.WriteHeader(rep.status)
	}
	w.Write(rep.body)
}

func (s *scripted) received() ([]*http.Request, [][]byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.requests...), append([][]byte(nil), s.bodies...)
}

// testExporter returns an exporter for cfg whose waits between tries are
// recorded in *waits and take no time, and which is shut down when the
// test ends.
func testExporter(t *testing.T, cfg Config, waits *[]time.Duration) *exporter {
	t.Helper()
	e, err := newExporter(cfg)
	if err != nil {
		t.Fatal(err)
	}
	e.retryInitial, e.retryMax = 10*time.Millisecond, 40*time.Millisecond
	var mu sync.Mutex
	e.wait = func(ctx context.Context, d time.Duration) error {
		mu.Lock()
		defer mu.Unlock()
		*waits = append(*waits, d)
		return ctx.Err()
	}
	t.Cleanup(func() { e.Shutdown(context.Background()) })
	return e
}

// rpcStatus is the protobuf encoding of a google.rpc.Status, the body of
// an OTLP error response.
func rpcStatus(code int, msg string) []byte {
	var b []byte
	b = protowire.AppendTag(b, 1, protowire.VarintType)
	b = protowire.AppendVarint(b, uint64(code))
	b = protowire.AppendTag(b, 2, protowire.BytesType)
	return protowire.AppendString(b, msg)
}

// TestExporterRetries runs exports against endpoints that refuse them
// before accepting: the retryable statuses are retried after the backoff
// or the Retry-After delay, whichever is longer; the others are not.
func TestExporterRetries(t *testing.T) {
	date := time.Now().Add(3 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name      string
		replies   []reply
		wantTries int
		wantWaits []time.Duration // a wait under 1 s is the backoff's: checked as under 1 s
		wantErr   string          // "" for success
	}{
		{"503 with Retry-After in seconds",
			[]reply{{status: 503, header: map[string]string{"Retry-After": "2"}}, {status: 503, header: map[string]string{"Retry-After": "1"}}, {}},
			3, []time.Duration{2 * time.Second, time.Second}, ""},
		{"429 with Retry-After as a date",
			[]reply{{status: 429, header: map[string]string{"Retry-After": date}}, {}},
			2, []time.Duration{2 * time.Second}, ""}, // 2 to 3 s
		{"502 and 504 with backoff",
			[]reply{{status: 502}, {status: 504}, {}},
			3, []time.Duration{0, 0}, ""},
		{"400 is not retried",
			[]reply{{status: 400, contentType: contentTypeProtobuf, body: rpcStatus(3, "span name too long")}},
			1, nil, "400 Bad Request: span name too long"},
		{"500 is not retried",
			[]reply{{status: 500, contentType: "text/plain", body: []byte("boom\n")}},
			1, nil, "500 Internal Server Error: boom"},
		{"JSON error status",
			[]reply{{status: 401, contentType: contentTypeJSON, body: []byte(`{"code":16,"message":"bad api key"}`)}},
			1, nil, "401 Unauthorized: bad api key"},
		{"retries stop when the deadline would pass",
			[]reply{{status: 503, header: map[string]string{"Retry-After": "30"}}},
			1, nil, "503 Service Unavailable (not retried: the next try, in 30s, would be after the export's deadline)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScripted(t, tc.replies...)
			var waits []time.Duration
			e := testExporter(t, Config{Endpoint: srv.URL + "/v1/traces"}, &waits)
			err := e.ExportSpans(t.Context(), recordSpans(t, 2))
			if tc.wantErr == "" && err != nil {
				t.Errorf("ExportSpans = %v; want success", err)
			}
			if tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Errorf("ExportSpans = %v; want an error containing %q", err, tc.wantErr)
			}
			reqs, bodies := srv.received()
			if len(reqs) != tc.wantTries {
				t.Errorf("%d requests; want %d", len(reqs), tc.wantTries)
			}
			for i := 1; i < len(bodies); i++ {
				if string(bodies[i]) != string(bodies[0]) {
					t.Errorf("try %d sent another body", i+1)
				}
			}
			if len(waits) != len(tc.wantWaits) {
				t.Fatalf("waits %v; want %d", waits, len(tc.wantWaits))
			}
			for i, w := range tc.wantWaits {
				if (w == 0 && waits[i] >= time.Second) || (w > 0 && (waits[i] < w || waits[i] > w+time.Second)) {
					t.Errorf("wait %d = %v; want %v", i, waits[i], w)
				}
			}
		})
	}
}

// TestExporterRetryMaxElapsed checks that retries stop after a minute,
// the SDK exporters' bound, even when the timeout is longer.
func TestExporterRetryMaxElapsed(t *testing.T) {
	srv := newScripted(t, reply{status: 503, header: map[string]string{"Retry-After": "61"}})
	var waits []time.Duration
	e := testExporter(t, Config{Endpoint: srv.URL, Timeout: 5 * time.Minute}, &waits)
	err := e.ExportSpans(t.Context(), recordSpans(t, 1))
	if err == nil || !strings.Contains(err.Error(), "not retried: the retries would take over 1m0s") {
		t.Errorf("ExportSpans = %v; want it not retried", err)
	}
	if len(waits) != 0 {
		t.Errorf("waited %v", waits)
	}
}

// TestRetryAfter parses Retry-After values.
func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	for v, want := range map[string]time.Duration{
		"":                              0,
		"0":                             0,
		"7":                             7 * time.Second,
		"-3":                            0,
		"soon":                          0,
		"Fri, 02 Jan 2026 03:04:15 GMT": 10 * time.Second,
		"Fri, 02 Jan 2026 03:04:00 GMT": 0,
		"99999999999999999999":          0, // does not parse as an int64
		"9999999999999999":              time.Duration(int64(1<<63-1) / int64(time.Second) * int64(time.Second)),
	} {
		if got := retryAfter(v, now); got != want {
			t.Errorf("retryAfter(%q) = %v; want %v", v, got, want)
		}
	}
}

// TestExporterPartialSuccess checks that a partial success, in either
// encoding, is returned as such by the exporter and logged, rate-limited,
// by the reporter, without counting as a failure.
func TestExporterPartialSuccess(t *testing.T) {
	resp := &coltracepb.ExportTraceServiceResponse{PartialSuccess: &coltracepb.ExportTracePartialSuccess{
		RejectedSpans: 2, ErrorMessage: "attribute too long"}}
	pb, err := proto.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	js, err := protojson.Marshal(resp)
	if err != nil {
		t.Fatal(err)
	}
	empty, err := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		reply reply
		want  *partialSuccessError // nil: a plain success
	}{
		{"protobuf", reply{contentType: contentTypeProtobuf, body: pb}, &partialSuccessError{2, "attribute too long"}},
		{"JSON", reply{contentType: contentTypeJSON + "; charset=utf-8", body: js}, &partialSuccessError{2, "attribute too long"}},
		{"JSON with a number", reply{contentType: contentTypeJSON, body: []byte(`{"partialSuccess":{"rejectedSpans":5}}`)}, &partialSuccessError{5, ""}},
		{"JSON warning only", reply{contentType: contentTypeJSON, body: []byte(`{"partialSuccess":{"errorMessage":"deprecated field"}}`)}, &partialSuccessError{0, "deprecated field"}},
		{"empty protobuf response", reply{contentType: contentTypeProtobuf, body: empty}, nil},
		{"empty JSON response", reply{contentType: contentTypeJSON, body: []byte(`{}`)}, nil},
		{"JSON with an empty partial success", reply{contentType: contentTypeJSON, body: []byte(`{"partialSuccess":{}}`)}, nil},
		{"another media type", reply{contentType: "text/plain", body: []byte("ok")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScripted(t, tc.reply)
			var waits []time.Duration
			e := testExporter(t, Config{Endpoint: srv.URL}, &waits)
			err := e.ExportSpans(t.Context(), recordSpans(t, 3))
			if tc.want == nil {
				if err != nil {
					t.Errorf("ExportSpans = %v; want success", err)
				}
				return
			}
			ps, ok := errors.AsType[*partialSuccessError](err)
			if !ok {
				t.Fatalf("ExportSpans = %v; want a partial success", err)
			}
			if *ps != *tc.want {
				t.Errorf("partial success %+v; want %+v", *ps, *tc.want)
			}

			var logs logSink
			clock := &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
			rep := newReporter(e, srv.URL, logs.logger(slog.LevelDebug), clock.Now)
			for range 3 {
				if err := rep.ExportSpans(t.Context(), recordSpans(t, 3)); err != nil {
					t.Fatalf("reporter: %v", err)
				}
				clock.advance(10 * time.Second)
			}
			clock.advance(time.Minute)
			if err := rep.ExportSpans(t.Context(), recordSpans(t, 3)); err != nil {
				t.Fatal(err)
			}
			got := logs.records(t, "OTLP")
			if len(got) != 2 || got[0]["msg"] != "OTLP endpoint rejected spans" || got[0]["rejected_spans"] != float64(tc.want.rejected) ||
				got[0]["message"] != tc.want.message || got[1]["rejected_spans"] != float64(3*tc.want.rejected) || got[1]["exports"] != float64(3) {
				t.Errorf("logged %v; want two lines on rejected spans, the second for 3 exports", got)
			}
		})
	}
}

// TestExporterRequest checks the requests an exporter sends: method, URL,
// headers (the configured ones cannot replace Content-Type) and body, in
// both encodings, compressed or not.
func TestExporterRequest(t *testing.T) {
	for _, tc := range []struct {
		name     string
		json     bool
		gzip     bool
		wantType string
	}{
		{"protobuf", false, false, contentTypeProtobuf},
		{"protobuf, gzip", false, true, contentTypeProtobuf},
		{"JSON", true, false, contentTypeJSON},
		{"JSON, gzip", true, true, contentTypeJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newScripted(t, reply{})
			var waits []time.Duration
			e := testExporter(t, Config{Endpoint: srv.URL + "/otlp/v1/traces", JSON: tc.json, Gzip: tc.gzip,
				Headers: map[string]string{"api-key": "k1", "content-type": "text/plain", "User-Agent": "mine"}}, &waits)
			spans := recordSpans(t, 2)
			if err := e.ExportSpans(t.Context(), spans); err != nil {
				t.Fatal(err)
			}
			reqs, bodies := srv.received()
			if len(reqs) != 1 {
				t.Fatalf("%d requests", len(reqs))
			}
			r := reqs[0]
			wantEncoding := ""
			if tc.gzip {
				wantEncoding = "gzip"
			}
			got := []string{r.Method, r.URL.Path, r.Header.Get("Content-Type"), r.Header.Get("Content-Encoding"), r.Header.Get("Api-Key"), r.UserAgent()}
			want := []string{"POST", "/otlp/v1/traces", tc.wantType, wantEncoding, "k1", "mine"}
			if diff := cmp.Diff(want, got); diff != "" {
				t.Errorf("request (-want +got):\n%s", diff)
			}
			wantBody := appendProtoRequest(nil, spans)
			if tc.json {
				wantBody = appendJSONRequest(nil, spans)
			}
			if string(bodies[0]) != string(wantBody) {
				t.Errorf("body differs from the encoding of the spans")
			}
		})
	}
}

// TestExporterUserAgent checks the User-Agent header sent by default.
func TestExporterUserAgent(t *testing.T) {
	srv := newScripted(t, reply{})
	var waits []time.Duration
	e := testExporter(t, Config{Endpoint: srv.URL}, &waits)
	if err := e.ExportSpans(t.Context(), recordSpans(t, 1)); err != nil {
		t.Fatal(err)
	}
	if reqs, _ := srv.received(); reqs[0].UserAgent() != userAgent {
		t.Errorf("User-Agent %q; want %q", reqs[0].UserAgent(), userAgent)
	}
}

// TestExporterShutdown checks that Shutdown cancels an export in flight
// and that exports after it fail without a request.
func TestExporterShutdown(t *testing.T) {
	arrived := make(chan struct{}, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body) // then the server sees the client hang up
		arrived <- struct{}{}
		<-r.Context().Done()
	}))
	t.Cleanup(srv.Close)
	var waits []time.Duration
	e := testExporter(t, Config{Endpoint: srv.URL, Timeout: time.Minute}, &waits)
	done := make(chan error)
	go func() { done <- e.ExportSpans(context.Background(), recordSpans(t, 1)) }()
	<-arrived
	if err := e.Shutdown(t.Context()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if !errors.Is(err, errShutdown) {
			t.Errorf("export in flight = %v; want it cancelled by the shutdown", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("the export in flight did not end with the shutdown")
	}
	if err := e.ExportSpans(t.Context(), recordSpans(t, 1)); !errors.Is(err, errShutdown) {
		t.Errorf("export after shutdown = %v; want %v", err, errShutdown)
	}
}

// writePEM writes PEM blocks of type typ to a file of dir and returns its
// path.
func writePEM(t *testing.T, dir, name, typ string, der []byte) string {
	t.Helper()
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// clientCert makes a self-signed client certificate and returns the
// paths of its PEM files and a pool holding it.
func clientCert(t *testing.T, dir string) (certFile, keyFile string, pool *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "runtime"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool = x509.NewCertPool()
	pool.AddCert(cert)
	return writePEM(t, dir, "client.pem", "CERTIFICATE", der), writePEM(t, dir, "client-key.pem", "PRIVATE KEY", keyDER), pool
}

// TestExporterTLS exports to https endpoints: one whose certificate is
// trusted through Config.Certificate, and one that also requires the
// client certificate of Config.ClientCertificate and ClientKey.
func TestExporterTLS(t *testing.T) {
	dir := t.TempDir()
	var gotClient sync.Map
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(r.TLS.PeerCertificates) > 0 {
			gotClient.Store(r.TLS.PeerCertificates[0].Subject.CommonName, true)
		}
	})
	srv := httptest.NewTLSServer(handler)
	t.Cleanup(srv.Close)
	ca := writePEM(t, dir, "ca.pem", "CERTIFICATE", srv.Certificate().Raw)

	certFile, keyFile, pool := clientCert(t, dir)
	mtls := httptest.NewUnstartedServer(handler)
	mtls.TLS = &tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: pool}
	mtls.StartTLS()
	t.Cleanup(mtls.Close)
	mtlsCA := writePEM(t, dir, "mtls-ca.pem", "CERTIFICATE", mtls.Certificate().Raw)

	export := func(cfg Config) error {
		t.Helper()
		var waits []time.Duration
		return testExporter(t, cfg, &waits).ExportSpans(t.Context(), recordSpans(t, 1))
	}
	if err := export(Config{Endpoint: srv.URL, Certificate: ca}); err != nil {
		t.Errorf("with the server's CA: %v", err)
	}
	if err := export(Config{Endpoint: srv.URL}); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("with the system's CAs: %v; want a certificate error", err)
	}
	if err := export(Config{Endpoint: mtls.URL, Certificate: mtlsCA, ClientCertificate: certFile, ClientKey: keyFile}); err != nil {
		t.Errorf("mutual TLS: %v", err)
	}
	if _, ok := gotClient.Load("runtime"); !ok {
		t.Error("the server saw no client certificate")
	}
	if err := export(Config{Endpoint: mtls.URL, Certificate: mtlsCA}); err == nil {
		t.Error("mutual TLS without a client certificate succeeded")
	}

	for _, tc := range []struct {
		cfg     Config
		wantErr string
	}{
		{Config{Endpoint: srv.URL, Certificate: filepath.Join(dir, "missing.pem")}, "CA certificate"},
		{Config{Endpoint: srv.URL, Certificate: keyFile}, "no PEM certificate"},
		{Config{Endpoint: srv.URL, ClientCertificate: certFile}, "needs its key"},
		{Config{Endpoint: srv.URL, ClientCertificate: certFile, ClientKey: ca}, "client certificate"},
		{Config{Endpoint: "http://127.0.0.1:4318", Certificate: ca}, "apply to https only"},
		{Config{Endpoint: "HTTP://127.0.0.1:4318", Certificate: ca}, "apply to https only"},
	} {
		if p, err := NewProcessor(tc.cfg, nil); err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			if err == nil {
				p.Shutdown(t.Context())
			}
			t.Errorf("NewProcessor(%+v) = %v; want an error containing %q", tc.cfg, err, tc.wantErr)
		}
	}
}

// TestProtoField decodes fields of protobuf messages, and rejects
// malformed ones.
func TestProtoField(t *testing.T) {
	msg := rpcStatus(5, "not found")
	if v, err := protoField(msg, 2, wireBytes); err != nil || string(v) != "not found" {
		t.Errorf("message field = %q, %v", v, err)
	}
	if v, err := protoField(msg, 9, wireBytes); err != nil || v != nil {
		t.Errorf("absent field = %q, %v; want nil", v, err)
	}
	if _, err := protoField(msg, 1, wireBytes); err == nil {
		t.Error("a varint field read as bytes")
	}
	for _, bad := range [][]byte{msg[:len(msg)-1], {0x80}, {0x0b}, {0x12, 0x05, 'a'}} {
		if _, err := protoField(bad, 2, wireBytes); err == nil {
			t.Errorf("protoField(%x) succeeded", bad)
		}
	}
}
