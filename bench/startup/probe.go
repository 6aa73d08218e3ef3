package main

import (
	"bufio"
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
)

// idleAfter is when, after exec, idle memory is read.
const idleAfter = time.Second

// pollInterval is the pause between two health checks of a starting
// binary.
const pollInterval = 200 * time.Microsecond

// Sample is what one start of a binary measured.
type Sample struct {
	Healthy         time.Duration // exec to the first 200 of GET /api/__health
	RSS, Anon, File int64         // VmRSS, RssAnon and RssFile at idleAfter, bytes
}

// InitTrace is what one start with GODEBUG=inittrace=1 reported.
type InitTrace struct {
	End      float64            // when the last initialisation ended, ms after the process started
	Total    float64            // the time all initialisations took, ms
	Packages map[string]float64 // the time of each package's, ms
}

// Result is the measures of one binary.
type Result struct {
	Binary string
	Size   int64 // bytes
	Starts []Sample
	Inits  []InitTrace
}

// Measure starts each binary rounds times, interleaved, and as many times
// again with GODEBUG=inittrace=1.
func Measure(ctx context.Context, bins []string, rounds int, timeout time.Duration) ([]*Result, error) {
	res := make([]*Result, len(bins))
	for i, b := range bins {
		fi, err := os.Stat(b)
		if err != nil {
			return nil, err
		}
		res[i] = &Result{Binary: b, Size: fi.Size()}
	}
	for range rounds {
		for _, r := range res {
			s, _, err := start(ctx, r.Binary, false, timeout)
			if err != nil {
				return nil, err
			}
			r.Starts = append(r.Starts, s)
		}
		for _, r := range res {
			_, it, err := start(ctx, r.Binary, true, timeout)
			if err != nil {
				return nil, err
			}
			r.Inits = append(r.Inits, it)
		}
	}
	return res, nil
}

// start starts bin once, measures it and stops it.
func start(ctx context.Context, bin string, inittrace bool, timeout time.Duration) (Sample, InitTrace, error) {
	var s Sample
	var it InitTrace
	port, err := runtimeproc.FreePort()
	if err != nil {
		return s, it, err
	}
	root, err := os.MkdirTemp("", "startup-root-")
	if err != nil {
		return s, it, err
	}
	defer os.RemoveAll(root)
	cmd := exec.Command(bin, "--port", strconv.Itoa(port), "--root", root)
	cmd.Env = runtimeproc.CleanEnv()
	if inittrace {
		cmd.Env = append(cmd.Env, "GODEBUG=inittrace=1")
	}
	tr := &http.Transport{DisableKeepAlives: true, Proxy: nil}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: time.Second}
	url := fmt.Sprintf("http://127.0.0.1:%d/api/__health", port)

	begin := time.Now()
	p, err := runtimeproc.Start(cmd)
	if err != nil {
		return s, it, err
	}
	defer p.Kill()
	deadline := begin.Add(timeout)
	for {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if err != nil {
			return s, it, err
		}
		if resp, err := client.Do(req); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				s.Healthy = time.Since(begin)
				break
			}
		}
		select {
		case <-p.Done():
			return s, it, fmt.Errorf("%s exited before it was healthy: %v\n%s", bin, p.ExitErr(), p.Output())
		case <-ctx.Done():
			return s, it, ctx.Err()
		default:
		}
		if time.Now().After(deadline) {
			return s, it, fmt.Errorf("%s not healthy within %v:\n%s", bin, timeout, p.Output())
		}
		time.Sleep(pollInterval) // polling: a starting server sends no signal
	}
	select {
	case <-time.After(time.Until(begin.Add(idleAfter))):
	case <-ctx.Done():
		return s, it, ctx.Err()
	}
	if s.RSS, s.Anon, s.File, err = memory(p.PID()); err != nil {
		return s, it, err
	}
	if err := p.Stop(5 * time.Second); err != nil {
		return s, it, fmt.Errorf("stopping %s: %w", filepath.Base(bin), err)
	}
	if inittrace {
		it = parseInitTrace(strings.NewReader(p.Output()))
	}
	return s, it, nil
}

// memory reads VmRSS, RssAnon and RssFile of a process, in bytes.
func memory(pid int) (rss, anon, file int64, err error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, 0, err
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		k, v, ok := strings.Cut(line, ":")
		if !ok {
			continue
		}
		var dst *int64
		switch k {
		case "VmRSS":
			dst = &rss
		case "RssAnon":
			dst = &anon
		case "RssFile":
			dst = &file
		default:
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, 0, 0, fmt.Errorf("/proc/%d/status: %s: %w", pid, k, err)
		}
		*dst = kb << 10
	}
	if rss == 0 {
		return 0, 0, 0, fmt.Errorf("/proc/%d/status: no VmRSS", pid)
	}
	return rss, anon, file, nil
}

// initLine is a line of the GODEBUG=inittrace=1 report:
// "init net/http @2.1 ms, 0.045 ms clock, 4712 bytes, 49 allocs".
var initLine = regexp.MustCompile(`^init (\S+) @([0-9.]+) ms, ([0-9.]+) ms clock`)

// parseInitTrace reads the inittrace report in a program's output.
func parseInitTrace(r io.Reader) InitTrace {
	it := InitTrace{Packages: map[string]float64{}}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		m := initLine.FindStringSubmatch(sc.Text())
		if m == nil {
			continue
		}
		at, _ := strconv.ParseFloat(m[2], 64) // the pattern admits numbers only
		took, _ := strconv.ParseFloat(m[3], 64)
		it.Packages[m[1]] += took
		it.Total += took
		it.End = max(it.End, at+took)
	}
	return it
}

// median returns the median of xs, which it sorts.
func median[T cmp.Ordered](xs []T) T {
	if len(xs) == 0 {
		var zero T
		return zero
	}
	slices.Sort(xs)
	return xs[len(xs)/2]
}

// column returns f of each element of xs.
func column[E, T any](xs []E, f func(E) T) []T {
	out := make([]T, len(xs))
	for i, x := range xs {
		out[i] = f(x)
	}
	return out
}

// PackageInit is the median time of a package's initialisation.
type PackageInit struct {
	Package string
	Ms      float64
}

// TopInits returns the n packages whose initialisation took longest, by
// their median over the traced starts.
func (r *Result) TopInits(n int) []PackageInit {
	times := map[string][]float64{}
	for _, it := range r.Inits {
		for p, ms := range it.Packages {
			times[p] = append(times[p], ms)
		}
	}
	var out []PackageInit
	for p, ms := range times {
		for len(ms) < len(r.Inits) {
			ms = append(ms, 0) // not traced in that start: no work
		}
		out = append(out, PackageInit{p, median(ms)})
	}
	slices.SortFunc(out, func(a, b PackageInit) int {
		return cmp.Or(cmp.Compare(b.Ms, a.Ms), cmp.Compare(a.Package, b.Package))
	})
	return out[:min(n, len(out))]
}

// WriteTable writes the medians of each result as a Markdown table.
func WriteTable(w io.Writer, res []*Result) {
	fmt.Fprintln(w, "| binary | size | start to healthy (median, min) | idle RSS | of which anonymous | file | init ends | init total |")
	fmt.Fprintln(w, "|---|---:|---:|---:|---:|---:|---:|---:|")
	mib := func(b int64) string { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }
	for _, r := range res {
		healthy := column(r.Starts, func(s Sample) time.Duration { return s.Healthy })
		fmt.Fprintf(w, "| %s | %.1f MB | %.1f ms (%.1f) | %s | %s | %s | %.1f ms | %.1f ms |\n",
			filepath.Base(r.Binary), float64(r.Size)/1e6,
			float64(median(healthy))/1e6, float64(slices.Min(healthy))/1e6,
			mib(median(column(r.Starts, func(s Sample) int64 { return s.RSS }))),
			mib(median(column(r.Starts, func(s Sample) int64 { return s.Anon }))),
			mib(median(column(r.Starts, func(s Sample) int64 { return s.File }))),
			median(column(r.Inits, func(it InitTrace) float64 { return it.End })),
			median(column(r.Inits, func(it InitTrace) float64 { return it.Total })))
	}
}
