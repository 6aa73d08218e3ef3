// Command bench is the load harness of genkit-runtime. In one run it
// measures, side by side and in interleaved rounds, a bare net/http
// handler (the ceiling), the genkit-runtime binary, and the Genkit Go and
// JS SDK fixtures when they are available: runs per second, latency,
// server CPU per run, streaming throughput, listing cost, start-up time and
// memory, with spans exported to a recording telemetry sink and not, and
// with the telemetry server gone or hanging, and over Reflection API v2,
// driven by a manager inside the harness.
//
// Everything runs on 127.0.0.1; every load is bounded in requests and
// time; the harness stops every process it started.
//
//	go run ./bench -json bench.json
//
// See bench/README.md for the scenarios and flags.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
)

func main() {
	if len(os.Args) > 2 && os.Args[1] == "-serve-ceiling" {
		if err := serveCeiling(os.Args[2]); err != nil {
			fmt.Fprintln(os.Stderr, "ceiling:", err)
			os.Exit(1)
		}
		return
	}
	cfg := parseFlags()
	if cfg.reportPath != "" {
		if err := reprint(os.Stdout, cfg.reportPath); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			os.Exit(1)
		}
		return
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := withProfile(cfg.selfProf, func() error { return runHarness(ctx, cfg) })
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

// withProfile runs f, with the CPU profiler writing to path when path is
// not empty.
func withProfile(path string, f func() error) error {
	if path == "" {
		return f()
	}
	pf, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := pprof.StartCPUProfile(pf); err != nil {
		pf.Close()
		return err
	}
	err = f()
	pprof.StopCPUProfile()
	return errors.Join(err, pf.Close())
}

// config is the harness's command line.
type config struct {
	repo       string
	runtimeBin string
	goSDKDir   string
	jsDir      string
	pythonDir  string
	skipGoSDK  bool
	skipJS     bool
	skipPython bool
	setup      bool
	rounds     int
	dur        time.Duration
	warmup     time.Duration
	maxReqs    int64
	only       *regexp.Regexp
	jsonPath   string
	listFlows  int
	listDAP    int
	idleWait   time.Duration
	startups   bool
	profileDir string
	selfProf   string
	reportPath string
	extraArgs  []string
	args       []string
}

func parseFlags() *config {
	c := &config{}
	fs := flag.NewFlagSet("bench", flag.ExitOnError)
	fs.StringVar(&c.repo, "repo", ".", "genkit-runtime repository root")
	fs.StringVar(&c.runtimeBin, "runtime-bin", "", "genkit-runtime binary to measure (default: built from -repo)")
	fs.StringVar(&c.goSDKDir, "gosdk", "e2e/fixtures/gosdk", "Go SDK fixture directory (relative to -repo)")
	fs.StringVar(&c.jsDir, "js", "e2e/fixtures/js", "JS SDK fixture directory (relative to -repo)")
	fs.StringVar(&c.pythonDir, "python", "e2e/fixtures/python", "Python SDK fixture directory (relative to -repo)")
	fs.BoolVar(&c.skipGoSDK, "skip-gosdk", false, "do not measure the Go SDK fixture")
	fs.BoolVar(&c.skipJS, "skip-js", false, "do not measure the JS SDK fixture")
	fs.BoolVar(&c.skipPython, "skip-python", false, "do not measure the Python SDK fixture")
	fs.BoolVar(&c.setup, "setup", true, "build the Go SDK fixture, run npm ci for the JS fixture and make the Python fixture's virtual environment when needed (false: use them as installed)")
	fs.IntVar(&c.rounds, "rounds", 3, "interleaved rounds; medians are reported")
	fs.DurationVar(&c.dur, "duration", 1500*time.Millisecond, "length of one measurement")
	fs.DurationVar(&c.warmup, "warmup", 200*time.Millisecond, "warm-up load before each measurement")
	fs.Int64Var(&c.maxReqs, "max-requests", 300000, "request bound of one measurement")
	extra := fs.String("runtime-args", "", "extra genkit-runtime flags, space separated (for experiments)")
	only := fs.String("only", "", "regexp: run only the scenarios whose name matches")
	fs.StringVar(&c.jsonPath, "json", "", "write the results as JSON to this file")
	fs.IntVar(&c.listFlows, "list-actions", 10000, "registered actions in the listing scenario")
	fs.IntVar(&c.listDAP, "list-dap-actions", 1000, "dynamic-action-provider actions in the listing scenario")
	fs.DurationVar(&c.idleWait, "idle-wait", time.Second, "how long after start-up idle memory is read")
	fs.BoolVar(&c.startups, "startup", true, "measure start-up time and idle memory")
	fs.StringVar(&c.profileDir, "profile", "", "write a CPU profile of genkit-runtime for each scenario (round 1) into this directory")
	fs.StringVar(&c.selfProf, "harness-profile", "", "write a CPU profile of the harness itself (load generators, v2 managers, sinks) to this file")
	fs.StringVar(&c.reportPath, "report", "", "print the tables of a JSON file written by -json, and measure nothing")
	fs.Parse(os.Args[1:])
	if *only != "" {
		c.only = regexp.MustCompile(*only)
	}
	c.extraArgs = strings.Fields(*extra)
	c.args = os.Args[1:]
	return c
}

// mode is a server configuration.
type mode string

const (
	modeOff    mode = "off"    // no telemetry server: spans stay in the process
	modeExport mode = "export" // every span exported to the recording sink, realtime
	modeGone   mode = "gone"   // the telemetry server's port is closed
	modeHang   mode = "hang"   // the telemetry server accepts and never answers
	modeList   mode = "list"   // many synthetic actions, for listing
	modeV2     mode = "v2"     // Reflection API v2: the server dials a manager in the harness; no telemetry server
)

// v2Prefix starts the name of every v2 scenario; the rest of the name is
// the v1 scenario it repeats over v2.
const v2Prefix = "v2/"

// scenario is one measured workload.
type scenario struct {
	name  string
	mode  mode
	kind  kind
	key   string
	input string
	conc  int
	// ceiling: the bare handler runs it too.
	ceiling bool
	chunks  int
}

func scenarios(cfg *config) []scenario {
	echoIn := `{"data":"` + strings.Repeat("x", 1000) + `"}`
	var out []scenario
	for _, m := range []mode{modeOff, modeExport} {
		sfx := ""
		if m == modeExport {
			sfx = "+export"
		}
		for _, c := range []int{1, 16, 64} {
			out = append(out, scenario{name: fmt.Sprintf("echo/c%d%s", c, sfx), mode: m, kind: unary, key: "/flow/echo", input: echoIn, conc: c, ceiling: true})
		}
		out = append(out,
			scenario{name: "greet/c16" + sfx, mode: m, kind: unary, key: "/flow/greet", input: `{"name":"Ada","count":3}`, conc: 16, ceiling: true},
			scenario{name: "steps3/c16" + sfx, mode: m, kind: unary, key: "/flow/steps", input: `{"steps":3}`, conc: 16, ceiling: true},
			scenario{name: "count1000/c1" + sfx, mode: m, kind: stream, key: "/flow/count", input: `{"count":1000}`, conc: 1, ceiling: true, chunks: 1000},
			scenario{name: "count1000/c16" + sfx, mode: m, kind: stream, key: "/flow/count", input: `{"count":1000}`, conc: 16, ceiling: true, chunks: 1000},
		)
	}
	out = append(out,
		scenario{name: "echo/c16+gone", mode: modeGone, kind: unary, key: "/flow/echo", input: echoIn, conc: 16},
		scenario{name: "echo/c16+hang", mode: modeHang, kind: unary, key: "/flow/echo", input: echoIn, conc: 16},
		scenario{name: "list/c4", mode: modeList, kind: list, conc: 4, ceiling: true},
	)
	for _, c := range []int{1, 16, 64} {
		out = append(out, scenario{name: fmt.Sprintf(v2Prefix+"echo/c%d", c), mode: modeV2, kind: unary, key: "/flow/echo", input: echoIn, conc: c, ceiling: true})
	}
	out = append(out,
		scenario{name: v2Prefix + "greet/c16", mode: modeV2, kind: unary, key: "/flow/greet", input: `{"name":"Ada","count":3}`, conc: 16, ceiling: true},
		scenario{name: v2Prefix + "steps3/c16", mode: modeV2, kind: unary, key: "/flow/steps", input: `{"steps":3}`, conc: 16, ceiling: true},
		scenario{name: v2Prefix + "count1000/c1", mode: modeV2, kind: stream, key: "/flow/count", input: `{"count":1000}`, conc: 1, ceiling: true, chunks: 1000},
		scenario{name: v2Prefix + "count1000/c16", mode: modeV2, kind: stream, key: "/flow/count", input: `{"count":1000}`, conc: 16, ceiling: true, chunks: 1000},
	)
	if cfg.only != nil {
		out = slices.DeleteFunc(out, func(s scenario) bool { return !cfg.only.MatchString(s.name) })
	}
	return out
}

// target is one kind of server measured.
type target struct {
	name string
	// spec returns how to start the target in a mode; ok is false when the
	// target does not support the mode.
	spec    func(m mode) (spec, bool)
	servers map[mode]*server
	clients map[int]*http.Client
	sink    *sink
	note    string
	// listMin is the number of actions the target lists in the listing
	// configuration once its app has defined them all, when that is known
	// and the target is slow to get there; 0 otherwise.
	listMin int
}

func (t *target) client(conc int) *http.Client {
	if t.clients == nil {
		t.clients = map[int]*http.Client{}
	}
	c := t.clients[conc]
	if c == nil {
		c = newClient(conc)
		t.clients[conc] = c
	}
	return c
}

// result is one scenario × target: its samples and their medians.
type result struct {
	Scenario string   `json:"scenario"`
	Mode     mode     `json:"mode"`
	Target   string   `json:"target"`
	Conc     int      `json:"concurrency"`
	Samples  []sample `json:"samples"`
	Median   summary  `json:"median"`
	Skipped  string   `json:"skipped,omitempty"`
}

// summary holds the medians over rounds of each metric.
type summary struct {
	RunsPerSec    float64 `json:"runsPerSec"`
	P50Ms         float64 `json:"p50Ms"`
	P99Ms         float64 `json:"p99Ms"`
	MaxMs         float64 `json:"maxMs"`
	CPUPerRunUs   float64 `json:"cpuPerRunUs"`
	ChunksPerSec  float64 `json:"chunksPerSec,omitempty"`
	FirstChunkMs  float64 `json:"firstChunkP50Ms,omitempty"`
	FirstChunk99  float64 `json:"firstChunkP99Ms,omitempty"`
	BytesPerRun   float64 `json:"bytesPerRun"`
	Errors        int64   `json:"errors"`
	Cut           int64   `json:"cut"`
	EndedSpansRun float64 `json:"exportedEndedSpansPerRun,omitempty"`
	PostsPerRun   float64 `json:"postsPerRun,omitempty"`
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func ms(d time.Duration) float64 { return float64(d) / 1e6 }

func summarize(ss []sample) summary {
	f := func(g func(sample) float64) float64 {
		var xs []float64
		for _, s := range ss {
			xs = append(xs, g(s))
		}
		return median(xs)
	}
	var sum summary
	sum.RunsPerSec = f(sample.rate)
	sum.P50Ms = f(func(s sample) float64 { return ms(s.P50) })
	sum.P99Ms = f(func(s sample) float64 { return ms(s.P99) })
	sum.MaxMs = f(func(s sample) float64 { return ms(s.Max) })
	sum.CPUPerRunUs = f(func(s sample) float64 { return float64(s.cpuPer()) / 1e3 })
	sum.ChunksPerSec = f(sample.chunkRate)
	sum.FirstChunkMs = f(func(s sample) float64 { return ms(s.FirstP50) })
	sum.FirstChunk99 = f(func(s sample) float64 { return ms(s.FirstP99) })
	sum.BytesPerRun = f(func(s sample) float64 {
		if s.OK == 0 {
			return 0
		}
		return float64(s.Bytes) / float64(s.OK)
	})
	for _, s := range ss {
		sum.Errors += s.Errors
		sum.Cut += s.Cut
	}
	if len(ss) > 0 && ss[0].Sink != nil {
		sum.EndedSpansRun = f(func(s sample) float64 {
			if s.OK == 0 {
				return 0
			}
			return float64(s.Sink.EndedSpans) / float64(s.OK)
		})
		sum.PostsPerRun = f(func(s sample) float64 {
			if s.OK == 0 {
				return 0
			}
			return float64(s.Sink.Posts) / float64(s.OK)
		})
	}
	return sum
}

// startup is one target's start-up and memory figures.
type startup struct {
	Target    string           `json:"target"`
	ReadyMs   []float64        `json:"readyMs"`
	IdleRSSMB []float64        `json:"idleRssMB"`
	MedReady  float64          `json:"medianReadyMs"`
	MedIdle   float64          `json:"medianIdleRssMB"`
	PeakRSSMB map[mode]float64 `json:"peakRssMBByMode,omitempty"`
	Note      string           `json:"note,omitempty"`
}

// report is the harness's JSON output.
type report struct {
	Command  string      `json:"command"`
	Started  time.Time   `json:"started"`
	GoArch   string      `json:"goarch"`
	CPUs     int         `json:"cpus"`
	Rounds   int         `json:"rounds"`
	Duration string      `json:"duration"`
	Notes    []string    `json:"notes"`
	Startup  []*startup  `json:"startup"`
	Listings []listCount `json:"listings,omitempty"`
	Results  []*result   `json:"results"`
}

// listCount is what one server in the listing configuration lists.
type listCount struct {
	Target  string `json:"target"`
	Actions int    `json:"actions"`
}

func runHarness(ctx context.Context, cfg *config) error {
	tmp, err := os.MkdirTemp("", "genkit-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	logDir := filepath.Join(tmp, "logs")
	os.MkdirAll(logDir, 0o755)
	rep := &report{Command: "go run ./bench " + strings.Join(cfg.args, " "), Started: time.Now(),
		GoArch: runtime.GOARCH, CPUs: runtime.NumCPU(), Rounds: cfg.rounds, Duration: cfg.dur.String()}
	note := func(format string, args ...any) {
		s := fmt.Sprintf(format, args...)
		rep.Notes = append(rep.Notes, s)
		fmt.Fprintln(os.Stderr, "note:", s)
	}

	var all servers
	defer all.stopAll()

	sinks := map[string]*sink{}
	defer func() {
		for _, s := range sinks {
			s.close()
		}
	}()
	gone, err := closedURL()
	if err != nil {
		return err
	}
	hang, err := newHangServer()
	if err != nil {
		return err
	}
	defer hang.close()

	targets, err := buildTargets(ctx, cfg, tmp, note)
	if err != nil {
		return err
	}
	for _, t := range targets {
		if t.name == "ceiling" {
			continue
		}
		s, err := newSink()
		if err != nil {
			return err
		}
		sinks[t.name] = s
		t.sink = s
	}
	telemetryEnv := func(t *target, m mode) []string {
		switch m {
		case modeExport:
			return []string{"GENKIT_TELEMETRY_SERVER=" + t.sink.url, "GENKIT_ENABLE_REALTIME_TELEMETRY=true"}
		case modeGone:
			return []string{"GENKIT_TELEMETRY_SERVER=" + gone, "GENKIT_ENABLE_REALTIME_TELEMETRY=true"}
		case modeHang:
			return []string{"GENKIT_TELEMETRY_SERVER=" + hang.url, "GENKIT_ENABLE_REALTIME_TELEMETRY=true"}
		}
		return nil
	}
	// The actions the v2 scenarios run, which a server in the v2
	// configuration must list before it is measured.
	var v2Keys []string
	scs := scenarios(cfg)
	needed := map[mode]bool{}
	for _, sc := range scs {
		needed[sc.mode] = true
		if sc.mode == modeV2 && !slices.Contains(v2Keys, sc.key) {
			v2Keys = append(v2Keys, sc.key)
		}
	}
	startTarget := func(t *target, m mode, profile bool) (*server, error) {
		sp, ok := t.spec(m)
		if !ok {
			return nil, nil
		}
		sp.env = append(sp.env, telemetryEnv(t, m)...)
		var pprofPort int
		if profile {
			if pprofPort, err = runtimeproc.FreePort(); err != nil {
				return nil, err
			}
			sp.args = append(sp.args, "--pprof-addr", "127.0.0.1:"+strconv.Itoa(pprofPort))
		}
		var s *server
		if m == modeV2 {
			s, err = startV2(ctx, sp, logDir, 60*time.Second, v2Keys)
		} else {
			s, err = start(ctx, sp, logDir, 60*time.Second)
		}
		if err != nil {
			return nil, err
		}
		s.pprofPort = pprofPort
		return all.add(s), nil
	}

	// Start-up time and idle memory: fresh processes, interleaved.
	if cfg.startups {
		for _, t := range targets {
			rep.Startup = append(rep.Startup, &startup{Target: t.name, PeakRSSMB: map[mode]float64{}})
		}
		for r := range cfg.rounds {
			for i := range targets {
				j := (i + r) % len(targets)
				t := targets[j]
				if t.name == "ceiling" {
					continue
				}
				s, err := startTarget(t, modeOff, false)
				if err != nil {
					return err
				}
				select {
				case <-time.After(cfg.idleWait):
				case <-ctx.Done():
					return ctx.Err()
				}
				m, err := readMem(s.pid())
				s.stop()
				if err != nil {
					return err
				}
				st := rep.Startup[j]
				st.ReadyMs = append(st.ReadyMs, ms(s.ready))
				st.IdleRSSMB = append(st.IdleRSSMB, float64(m.RSS)/(1<<20))
			}
		}
		for _, st := range rep.Startup {
			st.MedReady, st.MedIdle = median(st.ReadyMs), median(st.IdleRSSMB)
		}
	}

	// The long-lived servers, one per target and mode.
	for _, t := range targets {
		if t.name == "ceiling" {
			continue
		}
		t.servers = map[mode]*server{}
		for _, m := range []mode{modeOff, modeExport, modeGone, modeHang, modeList, modeV2} {
			if !needed[m] {
				continue
			}
			s, err := startTarget(t, m, cfg.profileDir != "" && t.name == "genkit-runtime")
			if err != nil {
				return err
			}
			if s == nil {
				continue
			}
			t.servers[m] = s
		}
	}
	// What each server lists in the listing configuration: a server
	// listing fewer actions than asked for is measured but noted.
	for _, t := range targets {
		s := t.servers[modeList]
		if s == nil {
			continue
		}
		n, err := settledCount(ctx, s.url, t.listMin)
		if err != nil {
			return fmt.Errorf("%s listing: %w", t.name, err)
		}
		rep.Listings = append(rep.Listings, listCount{Target: t.name, Actions: n})
		if n < cfg.listFlows {
			note("%s lists %d actions in the listing configuration, fewer than the %d asked for", t.name, n, cfg.listFlows)
		}
	}
	// The ceiling serves the runtime's own listing bytes.
	listingPath := filepath.Join(tmp, "listing.json")
	var listing []byte
	if rt := targets[1]; rt.servers[modeList] != nil {
		if listing, err = fetch(ctx, rt.servers[modeList].url+"/api/actions"); err != nil {
			return err
		}
	}
	if err := os.WriteFile(listingPath, listing, 0o644); err != nil {
		return err
	}
	{
		ceil := targets[0]
		self, err := os.Executable()
		if err != nil {
			return err
		}
		s, err := start(ctx, spec{name: "ceiling", path: self, args: []string{"-serve-ceiling", listingPath}}, logDir, 10*time.Second)
		if err != nil {
			return err
		}
		all.add(s)
		ceil.servers = map[mode]*server{modeOff: s, modeExport: s, modeList: s}
		if needed[modeV2] {
			s, err := startV2(ctx, spec{name: "ceiling-v2", path: self, args: []string{"-serve-ceiling", ""}}, logDir, 10*time.Second, v2Keys)
			if err != nil {
				return err
			}
			ceil.servers[modeV2] = all.add(s)
		}
	}

	// Interleaved rounds.
	results := map[string]*result{}
	var order []*result
	for _, sc := range scs {
		for _, t := range targets {
			if t.name == "ceiling" && !sc.ceiling {
				continue
			}
			r := &result{Scenario: sc.name, Mode: sc.mode, Target: t.name, Conc: sc.conc}
			if t.servers[sc.mode] == nil {
				r.Skipped = "not available in this mode"
				if t.note != "" {
					r.Skipped = t.note
				}
			}
			results[sc.name+"|"+t.name] = r
			order = append(order, r)
		}
	}
	for round := range cfg.rounds {
		for _, sc := range scs {
			for i := range targets {
				t := targets[(i+round)%len(targets)]
				r := results[sc.name+"|"+t.name]
				if r == nil || r.Skipped != "" {
					continue
				}
				s := t.servers[sc.mode]
				if !s.alive() {
					return fmt.Errorf("%s (%s) exited; log: %s", t.name, sc.mode, tail(s.logPath))
				}
				ld := load{kind: sc.kind, conc: sc.conc, dur: cfg.dur, grace: 10 * time.Second, maxReqs: cfg.maxReqs, chunks: sc.chunks}
				switch {
				case sc.mode == modeV2:
					rt, err := s.v2.runtime(ctx)
					if err != nil {
						return fmt.Errorf("%s (v2): %w; log: %s", t.name, err, tail(s.logPath))
					}
					ld.rt, ld.key, ld.input = rt, sc.key, json.RawMessage(sc.input)
				case sc.kind == list:
					ld.url = s.url + "/api/actions"
				case sc.kind == stream:
					ld.url = s.url + "/api/runAction?stream=true"
				default:
					ld.url = s.url + "/api/runAction"
				}
				if sc.kind != list && sc.mode != modeV2 {
					ld.body = []byte(`{"key":"` + sc.key + `","input":` + sc.input + `}`)
				}
				if sc.mode == modeGone || sc.mode == modeHang {
					ld.grace = 4 * time.Second
				} else if cfg.warmup > 0 {
					w := ld
					w.dur, w.maxReqs = cfg.warmup, cfg.maxReqs
					if _, err := w.run(ctx, t.client(sc.conc), s.pid()); err != nil {
						return err
					}
				}
				if t.sink != nil {
					t.sink.take()
				}
				var profDone chan error
				if cfg.profileDir != "" && s.pprofPort != 0 && round == 0 {
					profDone = make(chan error, 1)
					path := filepath.Join(cfg.profileDir, strings.NewReplacer("/", "_", "+", "_").Replace(sc.name)+".pprof")
					go func() { profDone <- saveProfile(ctx, s.pprofPort, cfg.dur, path) }()
				}
				smp, err := ld.run(ctx, t.client(sc.conc), s.pid())
				if err != nil {
					return err
				}
				if profDone != nil {
					if err := <-profDone; err != nil {
						note("profile of %s: %v", sc.name, err)
					}
				}
				if sc.mode == modeExport && t.sink != nil {
					c := t.sink.take()
					smp.Sink = &c
				}
				r.Samples = append(r.Samples, smp)
				fmt.Fprintf(os.Stderr, "round %d %-22s %-15s %9.0f/s p50 %6.2fms p99 %7.2fms cpu %6.0fµs err %d cut %d%s\n",
					round+1, sc.name, t.name, smp.rate(), ms(smp.P50), ms(smp.P99), float64(smp.cpuPer())/1e3, smp.Errors, smp.Cut, errSuffix(smp))
			}
		}
	}
	for _, r := range order {
		r.Median = summarize(r.Samples)
	}
	// What the managers saw that the protocol does not allow (a Genkit CLI
	// logs and ignores these).
	for _, t := range targets {
		if s := t.servers[modeV2]; s != nil {
			for _, rt := range s.v2.m.Runtimes() {
				switch errs := rt.ProtocolErrors(); len(errs) {
				case 0:
				case 1:
					note("%s over v2 broke the protocol once (the Genkit CLI logs this and goes on): %v", t.name, errs[0])
				default:
					note("%s over v2 broke the protocol (the Genkit CLI logs this and goes on): %v; %d protocol errors listed, the last: %v",
						t.name, errs[0], len(errs), errs[len(errs)-1])
				}
			}
		}
	}
	rep.Results = order
	for _, st := range rep.Startup {
		for _, t := range targets {
			if t.name != st.Target {
				continue
			}
			for m, s := range t.servers {
				if mi, err := readMem(s.pid()); err == nil {
					st.PeakRSSMB[m] = float64(mi.Peak) / (1 << 20)
				}
			}
			st.Note = t.note
		}
	}
	printTable(os.Stdout, rep)
	if cfg.jsonPath != "" {
		b, err := json.MarshalIndent(rep, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(cfg.jsonPath, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

func errSuffix(s sample) string {
	if s.FirstErr == "" {
		return ""
	}
	e := s.FirstErr
	if len(e) > 120 {
		e = e[:120]
	}
	return " (" + e + ")"
}

// fetch GETs url and returns the body.
func fetch(ctx context.Context, url string) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("GET %s: %s", url, resp.Status)
	}
	return io.ReadAll(resp.Body)
}

// Bounds of settledCount.
const (
	settleInterval = 250 * time.Millisecond
	settleMax      = 3 * time.Minute
)

// settledCount returns the number of actions the server at url lists once
// it lists at least atLeast and two listings settleInterval apart agree,
// waiting at most settleMax. An SDK may answer before the app has defined
// all its actions (the Go and Python SDKs start their reflection servers
// before the app defines its actions), and the listing must not be
// measured before they are there. The Python fixture takes from half a
// minute to over a minute to define the listing configuration, and its
// count stays the same for most of that time (it defines the tools of its
// dynamic action provider before the provider), hence atLeast.
func settledCount(ctx context.Context, url string, atLeast int) (int, error) {
	prev, err := countActions(ctx, url)
	if err != nil {
		return 0, err
	}
	deadline := time.Now().Add(settleMax)
	for time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-time.After(settleInterval):
		}
		n, err := countActions(ctx, url)
		if err != nil {
			return 0, err
		}
		if n == prev && n >= atLeast {
			return n, nil
		}
		prev = n
	}
	return prev, nil
}

// countActions returns the number of actions the server at url lists.
func countActions(ctx context.Context, url string) (int, error) {
	b, err := fetch(ctx, url+"/api/actions")
	if err != nil {
		return 0, err
	}
	var actions map[string]json.RawMessage
	if err := json.Unmarshal(b, &actions); err != nil {
		return 0, err
	}
	return len(actions), nil
}

// buildTargets builds what needs building and returns the targets: the
// ceiling first, genkit-runtime second, then the SDK fixtures available.
func buildTargets(ctx context.Context, cfg *config, tmp string, note func(string, ...any)) ([]*target, error) {
	ceiling := &target{name: "ceiling", spec: func(mode) (spec, bool) { return spec{}, false }}
	bin := cfg.runtimeBin
	if bin == "" {
		bin = filepath.Join(tmp, "genkit-runtime")
		cmd := exec.CommandContext(ctx, "go", "build", "-o", bin, "./cmd/genkit-runtime")
		cmd.Dir = cfg.repo
		if out, err := cmd.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("building genkit-runtime: %v\n%s", err, out)
		}
	}
	rtRoot := filepath.Join(tmp, "runtime-root")
	os.MkdirAll(rtRoot, 0o755)
	fxRoot, err := fixtureRoot(tmp)
	if err != nil {
		return nil, err
	}
	rt := &target{name: "genkit-runtime", spec: func(m mode) (spec, bool) {
		args := append([]string{"--root", rtRoot, "--log-level", "warn"}, cfg.extraArgs...)
		if m == modeList {
			args = append(args, "--synthetic-actions", strconv.Itoa(cfg.listFlows), "--synthetic-dap-actions", strconv.Itoa(cfg.listDAP))
		}
		return spec{name: "genkit-runtime-" + string(m), path: bin, args: args}, true
	}}
	targets := []*target{ceiling, rt}
	if !cfg.skipGoSDK {
		t, err := goSDKTarget(ctx, cfg, tmp, fxRoot)
		if err != nil {
			note("Go SDK fixture skipped: %v", err)
		} else {
			targets = append(targets, t)
		}
	} else {
		note("Go SDK fixture skipped (-skip-gosdk)")
	}
	if !cfg.skipJS {
		t, err := jsTarget(ctx, cfg, fxRoot)
		if err != nil {
			note("JS SDK fixture skipped: %v", err)
		} else {
			targets = append(targets, t)
		}
	} else {
		note("JS SDK fixture skipped (-skip-js)")
	}
	if !cfg.skipPython {
		t, err := pythonTarget(ctx, cfg, fxRoot)
		if err != nil {
			note("Python SDK fixture skipped: %v", err)
		} else {
			targets = append(targets, t)
		}
	} else {
		note("Python SDK fixture skipped (-skip-python)")
	}
	return targets, nil
}

// saveProfile fetches a CPU profile of about dur (at least a second) from a
// runtime's pprof server and writes it to path.
func saveProfile(ctx context.Context, port int, dur time.Duration, path string) error {
	secs := max(int(dur/time.Second), 1)
	b, err := fetch(ctx, fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/profile?seconds=%d", port, secs))
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	return os.WriteFile(path, b, 0o644)
}

// reprint prints the tables of the report saved at path.
func reprint(w io.Writer, path string) error {
	b, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var rep report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	printTable(w, &rep)
	return nil
}
