package otlp

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cenkalti/backoff/v5"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
)

// Limits and settings of the OTLP/HTTP exporters of the OpenTelemetry
// SDKs, which this exporter follows.
const (
	// maxRequestSize bounds an encoded batch, before compression.
	maxRequestSize = 64 << 20
	// maxResponseSize bounds the part of a response body that is read.
	maxResponseSize = 4 << 20
	// maxErrorText bounds the part of an error response quoted in an error.
	maxErrorText = 512

	// The retry schedule: exponential backoff from 5 s, growing by half
	// (±50% jitter) up to 30 s, for at most a minute. The export's timeout
	// bounds it too.
	retryInitial    = 5 * time.Second
	retryMax        = 30 * time.Second
	retryMaxElapsed = time.Minute
)

const (
	contentTypeProtobuf = "application/x-protobuf"
	contentTypeJSON     = "application/json"
	userAgent           = "genkit-runtime OTLP exporter (Go)"
)

// errShutdown is returned by an export after the exporter is shut down.
var errShutdown = errors.New("otlp: exporter shut down")

// exporter is a SpanExporter that posts batches of spans to an OTLP/HTTP
// endpoint, encoded as OTLP protobuf or JSON, as the OTLP specification
// says: it retries a batch the endpoint answers with 429, 502, 503 or 504
// (or that timed out) with exponential backoff, waiting at least as long
// as a Retry-After header asks, for as long as the export's timeout
// allows; it gives up on any other failure. A partial success (the
// endpoint accepted the request but rejected some of its spans) is
// returned as a *partialSuccessError.
type exporter struct {
	endpoint string
	header   http.Header // of every request
	json     bool
	gzip     bool
	timeout  time.Duration
	client   *http.Client

	// The retry schedule: retryInitial, retryMax and retryMaxElapsed, but
	// in tests.
	retryInitial, retryMax, retryMaxElapsed time.Duration
	// wait waits for d, or until ctx is done (returning its cause).
	wait func(ctx context.Context, d time.Duration) error

	stopped context.Context // done when the exporter is shut down
	stop    context.CancelFunc
}

var _ sdktrace.SpanExporter = (*exporter)(nil)

// newExporter returns the exporter for cfg, whose Endpoint has been
// checked, reading the TLS files it names.
func newExporter(cfg Config) (*exporter, error) {
	u, err := url.Parse(cfg.Endpoint)
	if err != nil {
		return nil, fmt.Errorf("otlp: %w", err)
	}
	tlsConfig, err := cfg.tlsConfig()
	if err != nil {
		return nil, err
	}
	if tlsConfig != nil && u.Scheme != "https" {
		return nil, errors.New("otlp: TLS certificates are configured for an http endpoint; they apply to https only")
	}
	header := make(http.Header)
	header.Set("User-Agent", userAgent)
	for k, v := range cfg.Headers {
		header.Set(k, v)
	}
	header.Set("Content-Type", contentTypeProtobuf)
	if cfg.JSON {
		header.Set("Content-Type", contentTypeJSON)
	}
	if cfg.Gzip {
		header.Set("Content-Encoding", "gzip")
	}
	// The settings of http.DefaultTransport, which is not shared: the
	// exporter closes its connections when shut down.
	transport := &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   30 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       tlsConfig,
	}
	stopped, stop := context.WithCancel(context.Background())
	return &exporter{
		endpoint:        cfg.Endpoint,
		header:          header,
		json:            cfg.JSON,
		gzip:            cfg.Gzip,
		timeout:         cfg.timeout(),
		client:          &http.Client{Transport: transport, Timeout: cfg.timeout()},
		retryInitial:    retryInitial,
		retryMax:        retryMax,
		retryMaxElapsed: retryMaxElapsed,
		wait:            wait,
		stopped:         stopped,
		stop:            stop,
	}, nil
}

// tlsConfig returns the TLS configuration of c's certificate files, or nil
// if it names none.
func (c Config) tlsConfig() (*tls.Config, error) {
	if c.Certificate == "" && c.ClientCertificate == "" && c.ClientKey == "" {
		return nil, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if c.Certificate != "" {
		pem, err := os.ReadFile(c.Certificate)
		if err != nil {
			return nil, fmt.Errorf("otlp: CA certificate: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("otlp: CA certificate %s: no PEM certificate in it", c.Certificate)
		}
	}
	if c.ClientCertificate != "" || c.ClientKey != "" {
		if c.ClientCertificate == "" || c.ClientKey == "" {
			return nil, errors.New("otlp: a client certificate needs its key, and a key its certificate")
		}
		cert, err := tls.LoadX509KeyPair(c.ClientCertificate, c.ClientKey)
		if err != nil {
			return nil, fmt.Errorf("otlp: client certificate: %w", err)
		}
		cfg.Certificates = []tls.Certificate{cert}
	}
	return cfg, nil
}

// ExportSpans posts spans to the endpoint, retrying as the exporter's doc
// says, within the exporter's timeout and ctx.
func (e *exporter) ExportSpans(ctx context.Context, spans []sdktrace.ReadOnlySpan) error {
	if len(spans) == 0 {
		return nil
	}
	if e.stopped.Err() != nil {
		return errShutdown
	}
	var body []byte
	if e.json {
		body = appendJSONRequest(nil, spans)
	} else {
		body = appendProtoRequest(nil, spans)
	}
	if len(body) > maxRequestSize {
		return fmt.Errorf("otlp: %d spans encode to %d bytes, over the limit of %d", len(spans), len(body), maxRequestSize)
	}
	if e.gzip {
		var err error
		if body, err = gzipped(body); err != nil {
			return err
		}
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	defer context.AfterFunc(e.stopped, func() { cancel(errShutdown) })()
	ctx, cancelTimeout := context.WithTimeoutCause(ctx, e.timeout,
		fmt.Errorf("otlp: export timeout (%v)", e.timeout))
	defer cancelTimeout()
	return e.post(ctx, body)
}

// post posts body until it is accepted, a failure is not worth retrying,
// or no time is left.
func (e *exporter) post(ctx context.Context, body []byte) error {
	b := backoff.ExponentialBackOff{
		InitialInterval:     e.retryInitial,
		RandomizationFactor: backoff.DefaultRandomizationFactor,
		Multiplier:          backoff.DefaultMultiplier,
		MaxInterval:         e.retryMax,
	}
	b.Reset()
	start := time.Now()
	for {
		err := e.send(ctx, body)
		if err == nil {
			return nil
		}
		if ctx.Err() != nil {
			return fmt.Errorf("%w: %w", context.Cause(ctx), err)
		}
		var r *retryableError
		if !errors.As(err, &r) {
			return err
		}
		delay := max(b.NextBackOff(), r.after)
		if time.Since(start)+delay > e.retryMaxElapsed {
			return fmt.Errorf("%w (not retried: the retries would take over %v)", err, e.retryMaxElapsed)
		}
		if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < delay {
			return fmt.Errorf("%w (not retried: the next try, in %v, would be after the export's deadline)", err, delay.Round(time.Millisecond))
		}
		if werr := e.wait(ctx, delay); werr != nil {
			return fmt.Errorf("%w: %w", werr, err)
		}
	}
}

// retryableError is a failure worth retrying, after at least after.
type retryableError struct {
	err   error
	after time.Duration
}

func (r *retryableError) Error() string { return r.err.Error() }
func (r *retryableError) Unwrap() error { return r.err }

// send posts body once.
func (e *exporter) send(ctx context.Context, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.endpoint, bytes.NewReader(body))
	if err != nil {
		return fmt.Errorf("otlp: %w", err)
	}
	req.Header = e.header.Clone()
	resp, err := e.client.Do(req)
	if err != nil {
		if ue, ok := errors.AsType[*url.Error](err); ok && ue.Timeout() {
			return &retryableError{err: err}
		}
		return err
	}
	defer resp.Body.Close()
	respBody, err := io.ReadAll(io.LimitReader(resp.Body, maxResponseSize))
	if err != nil {
		return fmt.Errorf("otlp: reading the response to POST %s: %w", e.endpoint, err)
	}
	mediaType, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		ps, err := decodePartialSuccess(mediaType, respBody)
		if err != nil {
			return fmt.Errorf("otlp: the response to POST %s: %w", e.endpoint, err)
		}
		if ps != nil {
			return ps
		}
		return nil
	}
	err = fmt.Errorf("POST %s: %s%s", e.endpoint, resp.Status, errorText(mediaType, respBody))
	switch resp.StatusCode {
	case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
		return &retryableError{err: err, after: retryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	return err
}

// Shutdown cancels the exports in flight, fails those to come and closes
// the exporter's connections.
func (e *exporter) Shutdown(ctx context.Context) error {
	e.stop()
	e.client.CloseIdleConnections()
	return ctx.Err()
}

// wait waits for d, or until ctx is done, returning its cause.
func wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// gzipWriters holds idle gzip writers: each holds some 800 KB.
var gzipWriters sync.Pool

// gzipped returns b gzip-compressed.
func gzipped(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	buf.Grow(len(b) / 4)
	zw, _ := gzipWriters.Get().(*gzip.Writer)
	if zw == nil {
		zw = gzip.NewWriter(&buf)
	} else {
		zw.Reset(&buf)
	}
	defer func() {
		zw.Reset(io.Discard) // not to keep buf
		gzipWriters.Put(zw)
	}()
	if _, err := zw.Write(b); err != nil {
		return nil, fmt.Errorf("otlp: gzip: %w", err)
	}
	if err := zw.Close(); err != nil {
		return nil, fmt.Errorf("otlp: gzip: %w", err)
	}
	return buf.Bytes(), nil
}

// retryAfter is the delay a Retry-After header value asks for, in seconds
// or as an HTTP date, at now; 0 if it is absent or malformed.
func retryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0
		}
		return time.Duration(min(s, int64(1<<63-1)/int64(time.Second))) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0)
	}
	return 0
}

// partialSuccessError is the error an export returns when the endpoint
// accepted the request but rejected some of its spans, or warned about it.
type partialSuccessError struct {
	rejected int64  // spans rejected; zero if the endpoint only warned
	message  string // the endpoint's explanation, if any
}

func (p *partialSuccessError) Error() string {
	msg := p.message
	if msg == "" {
		msg = "no message"
	}
	return fmt.Sprintf("OTLP partial success: %d spans rejected: %s", p.rejected, msg)
}

// decodePartialSuccess decodes the ExportTraceServiceResponse of a 2xx response
// and returns its partial success, or nil if it has none. A body of
// another media type than OTLP's two is ignored.
func decodePartialSuccess(mediaType string, body []byte) (*partialSuccessError, error) {
	if len(body) == 0 {
		return nil, nil
	}
	var ps partialSuccessError
	switch mediaType {
	case contentTypeProtobuf:
		// ExportTraceServiceResponse.partial_success (1):
		// ExportTracePartialSuccess {rejected_spans (1), error_message (2)}.
		inner, err := protoField(body, 1, wireBytes)
		if err != nil || inner == nil {
			return nil, err
		}
		if v, err := protoField(inner, 1, wireVarint); err != nil {
			return nil, err
		} else if v != nil {
			n, _ := binary.Uvarint(v)
			ps.rejected = int64(n)
		}
		msg, err := protoField(inner, 2, wireBytes)
		if err != nil {
			return nil, err
		}
		ps.message = string(msg)
	case contentTypeJSON:
		var resp struct {
			PartialSuccess *struct {
				RejectedSpans json.RawMessage `json:"rejectedSpans"`
				ErrorMessage  string          `json:"errorMessage"`
			} `json:"partialSuccess"`
		}
		if err := json.Unmarshal(body, &resp); err != nil {
			return nil, err
		}
		if resp.PartialSuccess == nil {
			return nil, nil
		}
		if raw := strings.Trim(string(resp.PartialSuccess.RejectedSpans), `"`); raw != "" {
			n, err := strconv.ParseInt(raw, 10, 64)
			if err != nil {
				return nil, fmt.Errorf("rejectedSpans %s: %w", resp.PartialSuccess.RejectedSpans, err)
			}
			ps.rejected = n
		}
		ps.message = resp.PartialSuccess.ErrorMessage
	default:
		return nil, nil
	}
	if ps.rejected == 0 && ps.message == "" {
		return nil, nil
	}
	return &ps, nil
}

// errorText is the message of an error response, after ": ", or "" if it
// has none: that of a google.rpc.Status if the body is one (as OTLP
// specifies), else the start of the body if it is text.
func errorText(mediaType string, body []byte) string {
	var msg string
	switch {
	case mediaType == contentTypeProtobuf:
		m, err := protoField(body, 2, wireBytes) // google.rpc.Status.message
		if err != nil {
			return ""
		}
		msg = string(m)
	case mediaType == contentTypeJSON:
		var status struct {
			Message string `json:"message"`
		}
		if json.Unmarshal(body, &status) == nil && status.Message != "" {
			msg = status.Message
		} else {
			msg = string(body)
		}
	case strings.HasPrefix(mediaType, "text/") || mediaType == "":
		msg = string(body)
	}
	msg = strings.TrimSpace(validUTF8(msg))
	if len(msg) > maxErrorText {
		msg = strings.ToValidUTF8(msg[:maxErrorText], "") + "…"
	}
	if msg == "" {
		return ""
	}
	return ": " + msg
}

// protoField returns the value of the last field num of the protobuf
// message b, which must be of the wire type wire: the bytes of a
// length-delimited field, the varint's encoding for a varint. It returns
// nil if b has no such field.
func protoField(b []byte, num, wire int) ([]byte, error) {
	errMalformed := errors.New("malformed protobuf message")
	var found []byte
	for len(b) > 0 {
		tag, n := binary.Uvarint(b)
		if n <= 0 {
			return nil, errMalformed
		}
		b = b[n:]
		fnum, ftype := int(tag>>3), int(tag&7)
		var v []byte
		switch ftype {
		case wireVarint:
			_, n := binary.Uvarint(b)
			if n <= 0 {
				return nil, errMalformed
			}
			v, b = b[:n], b[n:]
		case wireFixed64:
			if len(b) < 8 {
				return nil, errMalformed
			}
			v, b = b[:8], b[8:]
		case wireFixed32:
			if len(b) < 4 {
				return nil, errMalformed
			}
			v, b = b[:4], b[4:]
		case wireBytes:
			l, n := binary.Uvarint(b)
			if n <= 0 || l > uint64(len(b)-n) {
				return nil, errMalformed
			}
			v, b = b[n:n+int(l)], b[n+int(l):]
		default:
			return nil, errMalformed
		}
		if fnum == num {
			if ftype != wire {
				return nil, fmt.Errorf("field %d has wire type %d, not %d", num, ftype, wire)
			}
			found = v
		}
	}
	return found, nil
}
