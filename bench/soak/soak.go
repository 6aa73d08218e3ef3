package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
)

// minHeapTolerance is the least heap in-use growth tolerated, whatever
// the fraction. With the trace store full, heap in-use after a GC varies by
// up to about 1.5 MiB from one measurement to the next (the retained
// traces differ, and freed objects leave spans partly in use), in either
// direction.
const minHeapTolerance = 4 << 20

// Config configures a soak; DefaultConfig gives the defaults of the
// command.
type Config struct {
	Runs           int     // runs after the warm-up
	Concurrency    int     // concurrent clients
	HangupRatio    float64 // fraction of the clients that hang up early
	Warmup         int     // warm-up runs; if zero, 2 × MaxTraces
	MaxTraces      int     // the runtime's --trace-store-max-traces
	GoroutineSlack int     // goroutines tolerated above the baseline
	HeapTolerance  float64 // heap in-use growth tolerated, as a fraction of the baseline
	Timeout        time.Duration
	RuntimeBin     string // the binary; if empty, built from this module
	// Progress, if not nil, receives progress messages.
	Progress func(format string, args ...any)
}

// DefaultConfig returns the defaults of the soak command.
func DefaultConfig() Config {
	return Config{Runs: 20000, Concurrency: 200, HangupRatio: 0.3, MaxTraces: 1000,
		GoroutineSlack: 5, HeapTolerance: 0.25, Timeout: 10 * time.Minute}
}

// Report is the outcome of a soak.
type Report struct {
	Config   Config
	Idle     Sample // before the warm-up
	Baseline Sample // after the warm-up, the trace store full
	After    Sample // after the soak
	Warmup   LoadStats
	Soak     LoadStats
	// Quiesce is how long the runtime took to go quiet after the soak.
	Quiesce time.Duration
	// Total is the wall time of the whole soak, build included.
	Total time.Duration
	// ShutdownErr is how the runtime ended on SIGTERM; nil for status 0.
	ShutdownErr error
}

// HeapLimit is the most heap in-use tolerated after the soak.
func (r *Report) HeapLimit() uint64 {
	return r.Baseline.HeapInuse + max(uint64(r.Config.HeapTolerance*float64(r.Baseline.HeapInuse)), minHeapTolerance)
}

// Problems lists the soak's failed conditions; none means it passed.
func (r *Report) Problems() []string {
	var out []string
	if r.After.Goroutines > r.Baseline.Goroutines+r.Config.GoroutineSlack {
		out = append(out, fmt.Sprintf("goroutines: %d after the soak, baseline %d (+%d tolerated)",
			r.After.Goroutines, r.Baseline.Goroutines, r.Config.GoroutineSlack))
	}
	if r.After.HeapInuse > r.HeapLimit() {
		out = append(out, fmt.Sprintf("heap in-use: %s after the soak, above %s (baseline %s)",
			mib(r.After.HeapInuse), mib(r.HeapLimit()), mib(r.Baseline.HeapInuse)))
	}
	for _, l := range []struct {
		name string
		st   LoadStats
	}{{"warm-up", r.Warmup}, {"soak", r.Soak}} {
		if l.st.Failed > 0 {
			out = append(out, fmt.Sprintf("%s: %d runs failed: %s", l.name, l.st.Failed, strings.Join(l.st.Errors, "; ")))
		}
		if n := l.st.OK + l.st.HungUp + l.st.Failed; n != l.st.Runs {
			out = append(out, fmt.Sprintf("%s: %d of %d runs made", l.name, n, l.st.Runs))
		}
	}
	if r.ShutdownErr != nil {
		out = append(out, fmt.Sprintf("shutdown: %v", r.ShutdownErr))
	}
	return out
}

func mib(n uint64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

func signed(n int64, unit func(uint64) string) string {
	if n < 0 {
		return "−" + unit(uint64(-n))
	}
	return "+" + unit(uint64(n))
}

// WriteTable prints the report as Markdown.
func (r *Report) WriteTable(w io.Writer) {
	c := r.Config
	fmt.Fprintf(w, "runs %d, clients %d (%d hanging up), warm-up %d runs, --trace-store-max-traces %d\n\n",
		c.Runs, c.Concurrency, hangers(c), r.Warmup.Runs, c.MaxTraces)
	fmt.Fprintln(w, "| | idle | baseline (store full) | after the soak | after − baseline |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|")
	n := func(v int) string { return strconv.Itoa(v) }
	fmt.Fprintf(w, "| goroutines | %d | %d | %d | %+d |\n", r.Idle.Goroutines, r.Baseline.Goroutines, r.After.Goroutines,
		r.After.Goroutines-r.Baseline.Goroutines)
	fmt.Fprintf(w, "| heap in-use | %s | %s | %s | %s |\n", mib(r.Idle.HeapInuse), mib(r.Baseline.HeapInuse),
		mib(r.After.HeapInuse), signed(int64(r.After.HeapInuse)-int64(r.Baseline.HeapInuse), mib))
	fmt.Fprintf(w, "| heap alloc | %s | %s | %s | %s |\n", mib(r.Idle.HeapAlloc), mib(r.Baseline.HeapAlloc),
		mib(r.After.HeapAlloc), signed(int64(r.After.HeapAlloc)-int64(r.Baseline.HeapAlloc), mib))
	fmt.Fprintf(w, "| RSS | %s | %s | %s | %s |\n", mib(uint64(r.Idle.RSS)), mib(uint64(r.Baseline.RSS)),
		mib(uint64(r.After.RSS)), signed(r.After.RSS-r.Baseline.RSS, mib))
	fmt.Fprintln(w)
	fmt.Fprintln(w, "| load | runs | ok | hung up | failed | duration | runs/s |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|")
	for _, l := range []struct {
		name string
		st   LoadStats
	}{{"warm-up", r.Warmup}, {"soak", r.Soak}} {
		rate := 0.0
		if l.st.Duration > 0 {
			rate = float64(l.st.OK+l.st.HungUp+l.st.Failed) / l.st.Duration.Seconds()
		}
		fmt.Fprintf(w, "| %s | %s | %s | %s | %s | %s | %.0f |\n", l.name, n(l.st.Runs), n(l.st.OK), n(l.st.HungUp),
			n(l.st.Failed), l.st.Duration.Round(10*time.Millisecond), rate)
	}
	fmt.Fprintln(w)
	fmt.Fprintf(w, "quiet %v after the soak; limits: goroutines ≤ %d, heap in-use ≤ %s; total %v\n",
		r.Quiesce.Round(10*time.Millisecond), r.Baseline.Goroutines+c.GoroutineSlack, mib(r.HeapLimit()),
		r.Total.Round(100*time.Millisecond))
}

// hangers is the number of clients that hang up.
func hangers(c Config) int { return int(math.Round(c.HangupRatio * float64(c.Concurrency))) }

// Run runs a soak. It returns the report so far with any error.
func Run(ctx context.Context, cfg Config) (*Report, error) {
	if cfg.Runs < 0 || cfg.Concurrency <= 0 || cfg.HangupRatio < 0 || cfg.HangupRatio > 1 || cfg.MaxTraces <= 0 {
		return nil, errors.New("want -runs >= 0, -concurrency > 0, 0 <= -hangup <= 1 and -max-traces > 0")
	}
	if cfg.Warmup == 0 {
		cfg.Warmup = 2 * cfg.MaxTraces
	}
	progress := cfg.Progress
	if progress == nil {
		progress = func(string, ...any) {}
	}
	started := time.Now()
	ctx, cancel := context.WithTimeout(ctx, cfg.Timeout)
	defer cancel()
	rep := &Report{Config: cfg}

	tmp, err := os.MkdirTemp("", "genkit-runtime-soak-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	bin := cfg.RuntimeBin
	if bin == "" {
		progress("building genkit-runtime")
		if bin, err = runtimeproc.Build(ctx, tmp); err != nil {
			return nil, err
		}
	}
	// A project root of its own: the runtime file goes to its .genkit.
	project := filepath.Join(tmp, "project")
	if err := os.MkdirAll(project, 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(project, "package.json"), []byte("{}\n"), 0o644); err != nil {
		return nil, err
	}
	p, err := startProcess(ctx, bin, project, []string{"--trace-store-max-traces", strconv.Itoa(cfg.MaxTraces)})
	if err != nil {
		return nil, err
	}
	defer func() {
		if p != nil {
			p.stop()
		}
	}()
	pr := newProbe(p.pprofURL, p.PID())
	tr := &http.Transport{Proxy: nil, MaxIdleConns: cfg.Concurrency, MaxIdleConnsPerHost: cfg.Concurrency}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Minute}

	measure := func(what string) (Sample, time.Duration, error) {
		took, err := quiesce(ctx, tr, pr)
		if err != nil {
			return Sample{}, took, fmt.Errorf("%s: %w", what, err)
		}
		s, err := pr.sample(ctx)
		if err != nil {
			return s, took, fmt.Errorf("%s: %w", what, err)
		}
		progress("%s: %d goroutines, heap in-use %s, RSS %s", what, s.Goroutines, mib(s.HeapInuse), mib(uint64(s.RSS)))
		return s, took, nil
	}
	if rep.Idle, _, err = measure("idle"); err != nil {
		return rep, err
	}
	progress("warm-up: %d runs, %d clients", cfg.Warmup, cfg.Concurrency)
	rep.Warmup = runLoad(ctx, client, p.url, cfg.Warmup, cfg.Concurrency, hangers(cfg))
	if rep.Baseline, _, err = measure("baseline"); err != nil {
		return rep, err
	}
	progress("soak: %d runs, %d clients, %d hanging up", cfg.Runs, cfg.Concurrency, hangers(cfg))
	rep.Soak = runLoad(ctx, client, p.url, cfg.Runs, cfg.Concurrency, hangers(cfg))
	if err := ctx.Err(); err != nil {
		return rep, fmt.Errorf("soak cut short: %w", err)
	}
	if rep.After, rep.Quiesce, err = measure("after"); err != nil {
		return rep, err
	}
	rep.ShutdownErr = p.stop()
	p = nil
	rep.Total = time.Since(started)
	return rep, nil
}

// quiesce closes the client's idle connections and waits until the
// runtime's goroutine count has stayed the same for a second (runs the
// clients hung up on end soon after; connections close when the client's
// close reaches them), for at most 30 s. It returns how long that took.
func quiesce(ctx context.Context, tr *http.Transport, pr *probe) (time.Duration, error) {
	const (
		every  = 100 * time.Millisecond
		stable = 10 // polls with the same count
		bound  = 30 * time.Second
	)
	start := time.Now()
	tr.CloseIdleConnections()
	t := time.NewTicker(every)
	defer t.Stop()
	last, same := -1, 0
	for {
		g, err := pr.goroutines(ctx)
		if err != nil {
			return time.Since(start), err
		}
		if g == last {
			same++
		} else {
			last, same = g, 0
		}
		if same >= stable {
			return max(time.Since(start)-stable*every, 0), nil
		}
		if time.Since(start) > bound {
			return time.Since(start), nil
		}
		select {
		case <-ctx.Done():
			return time.Since(start), ctx.Err()
		case <-t.C:
		}
	}
}
