package main

import (
	"os"
	"strings"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestMeasure builds genkit-runtime and the hello-world server, starts
// each twice (and twice traced) and checks what was measured: every start
// healthy, memory read, the package initialisations of genkit-runtime
// traced, and a table with a row per binary.
func TestMeasure(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts binaries")
	}
	if _, err := os.Stat("/proc/self/status"); err != nil {
		t.Skip("no /proc: idle memory is read from /proc/<pid>/status")
	}
	dir := t.TempDir()
	var bins []string
	for _, pkg := range []string{runtimeproc.Package, "./hello"} {
		bin, err := runtimeproc.BuildProgram(t.Context(), dir, pkg)
		if err != nil {
			t.Fatal(err)
		}
		bins = append(bins, bin)
	}
	res, err := Measure(t.Context(), bins, 2, 30*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if len(r.Starts) != 2 || len(r.Inits) != 2 || r.Size == 0 {
			t.Fatalf("%s: %d starts, %d traced, size %d", r.Binary, len(r.Starts), len(r.Inits), r.Size)
		}
		for _, s := range r.Starts {
			if s.Healthy <= 0 || s.Healthy > 30*time.Second || s.RSS <= 0 || s.Anon <= 0 || s.File <= 0 || s.Anon+s.File > s.RSS+(64<<10) {
				t.Errorf("%s: start %+v", r.Binary, s)
			}
		}
		for _, it := range r.Inits {
			if it.End <= 0 || it.Total <= 0 || it.Packages["runtime"] <= 0 {
				t.Errorf("%s: init trace %+v", r.Binary, it)
			}
		}
	}
	if top := res[0].TopInits(200); len(top) < 50 {
		t.Errorf("genkit-runtime: %d packages with initialisation work traced; want many", len(top))
	}
	var b strings.Builder
	WriteTable(&b, res)
	t.Logf("\n%s", b.String())
	if n := strings.Count(b.String(), "\n"); n != 2+len(bins) {
		t.Errorf("table of %d lines; want a header, a rule and %d rows:\n%s", n, len(bins), b.String())
	}
}
