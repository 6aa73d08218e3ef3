package reflection

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/genkit-runtime/genkit-runtime/dap"
	"github.com/genkit-runtime/genkit-runtime/fixture"
	"github.com/genkit-runtime/genkit-runtime/registry"
)

// discardWriter is a flushable ResponseWriter that drops what it is sent.
type discardWriter struct{ h http.Header }

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *discardWriter) WriteHeader(int)             {}
func (w *discardWriter) Flush()                      {}

// BenchmarkChunkWrite measures writing one NDJSON chunk of a stream: its
// encoding, the write and the flush.
func BenchmarkChunkWrite(b *testing.B) {
	w := &discardWriter{h: http.Header{}}
	rw := newRunWriter(w, true)
	defer rw.close()
	rw.start("0123456789abcdef0123456789abcdef", "0123456789abcdef")
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		if err := rw.chunk(fixture.CountChunk{Index: i}); err != nil {
			b.Fatal(err)
		}
		i++
	}
}

// BenchmarkListActionsWithDAP measures GET /api/actions over the fixture,
// 10,000 registered flows and a provider of 1,000 tools, as the binary's
// --synthetic-actions and --synthetic-dap-actions set it up.
func BenchmarkListActionsWithDAP(b *testing.B) {
	reg := v1BenchFixture(b)
	for i := range 10000 {
		if _, err := registry.DefineFlow(reg, fmt.Sprintf("synthetic/flow%05d", i), func(_ context.Context, in string) (string, error) {
			return in, nil
		}, &registry.ActionOptions{Description: "A trivial flow."}); err != nil {
			b.Fatal(err)
		}
	}
	if _, err := fixture.RegisterSyntheticDAP(reg, 1000, &dap.Options{}); err != nil {
		b.Fatal(err)
	}
	h := v1BenchHandler(b, reg)
	b.ReportAllocs()
	for b.Loop() {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/actions", nil))
		if rec.Code != http.StatusOK {
			b.Fatal(rec.Code)
		}
		b.SetBytes(int64(rec.Body.Len()))
	}
}
