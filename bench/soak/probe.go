package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
)

// Sample is one measurement of the runtime process.
type Sample struct {
	Goroutines int
	HeapInuse  uint64 // runtime.MemStats.HeapInuse after a GC, bytes
	HeapAlloc  uint64 // runtime.MemStats.HeapAlloc after a GC, bytes
	RSS        int64  // VmRSS, bytes
}

// probe reads the runtime's profiles and /proc.
type probe struct {
	client   *http.Client
	pprofURL string
	pid      int
}

func newProbe(pprofURL string, pid int) *probe {
	// No keep-alive: an idle connection to the profiling server would be
	// a goroutine of the runtime that the measurements count.
	return &probe{client: &http.Client{Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true}},
		pprofURL: pprofURL, pid: pid}
}

// sample takes one measurement.
func (p *probe) sample(ctx context.Context) (Sample, error) {
	var s Sample
	g, err := p.goroutines(ctx)
	if err != nil {
		return s, err
	}
	s.Goroutines = g
	if s.HeapInuse, s.HeapAlloc, err = p.heap(ctx); err != nil {
		return s, err
	}
	if s.RSS, err = rss(p.pid); err != nil {
		return s, err
	}
	return s, nil
}

func (p *probe) get(ctx context.Context, path string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, p.pprofURL+path, nil)
	if err != nil {
		return nil, err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", path, resp.Status)
	}
	return b, nil
}

// goroutines reads the total from the first line of the goroutine
// profile, "goroutine profile: total N".
func (p *probe) goroutines(ctx context.Context) (int, error) {
	b, err := p.get(ctx, "/debug/pprof/goroutine?debug=1")
	if err != nil {
		return 0, err
	}
	first, _, _ := bytes.Cut(b, []byte("\n"))
	const prefix = "goroutine profile: total "
	if !bytes.HasPrefix(first, []byte(prefix)) {
		return 0, fmt.Errorf("goroutine profile starts with %q", first)
	}
	return strconv.Atoi(string(first[len(prefix):]))
}

// heap reads HeapInuse and HeapAlloc from the runtime.MemStats lines of
// the heap profile, "# HeapInuse = N", which gc=1 takes after a GC. The
// profile is fetched twice and the second one read: objects in sync.Pools
// survive one GC (in the pools' victim caches) but not two.
func (p *probe) heap(ctx context.Context) (inuse, alloc uint64, err error) {
	if _, err := p.get(ctx, "/debug/pprof/heap?gc=1&debug=1"); err != nil {
		return 0, 0, err
	}
	b, err := p.get(ctx, "/debug/pprof/heap?gc=1&debug=1")
	if err != nil {
		return 0, 0, err
	}
	var found int
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 0, 64<<10), 1<<20)
	for sc.Scan() {
		k, v, ok := strings.Cut(strings.TrimPrefix(sc.Text(), "# "), " = ")
		if !ok {
			continue
		}
		var dst *uint64
		switch k {
		case "HeapInuse":
			dst = &inuse
		case "HeapAlloc":
			dst = &alloc
		default:
			continue
		}
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("heap profile: %s = %q", k, v)
		}
		*dst = n
		found++
	}
	if err := sc.Err(); err != nil {
		return 0, 0, err
	}
	if found != 2 {
		return 0, 0, fmt.Errorf("heap profile lacks the HeapInuse and HeapAlloc MemStats lines")
	}
	return inuse, alloc, nil
}

// rss reads VmRSS from /proc/<pid>/status.
func rss(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for line := range strings.Lines(string(b)) {
		v, ok := strings.CutPrefix(line, "VmRSS:")
		if !ok {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("VmRSS %q: %w", v, err)
		}
		return kb << 10, nil
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
