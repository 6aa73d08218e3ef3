package main

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// printTable writes the results as Markdown tables: one for runs, one for
// streams, one for listing, the same two over Reflection API v2 and how
// they meet its targets, one for start-up and memory.
func printTable(w io.Writer, rep *report) {
	by := map[string]*result{}
	var unaryScs, streamScs, listScs, v2UnaryScs, v2StreamScs []string
	seen := map[string]bool{}
	for _, r := range rep.Results {
		by[r.Scenario+"|"+r.Target] = r
		if seen[r.Scenario] {
			continue
		}
		seen[r.Scenario] = true
		switch v1, isV2 := strings.CutPrefix(r.Scenario, v2Prefix); {
		case isV2 && strings.HasPrefix(v1, "count"):
			v2StreamScs = append(v2StreamScs, r.Scenario)
		case isV2:
			v2UnaryScs = append(v2UnaryScs, r.Scenario)
		case strings.HasPrefix(r.Scenario, "count"):
			streamScs = append(streamScs, r.Scenario)
		case strings.HasPrefix(r.Scenario, "list"):
			listScs = append(listScs, r.Scenario)
		default:
			unaryScs = append(unaryScs, r.Scenario)
		}
	}
	get := func(sc, t string) *summary {
		r := by[sc+"|"+t]
		if r == nil || r.Skipped != "" || len(r.Samples) == 0 {
			return nil
		}
		return &r.Median
	}
	targets := []string{"ceiling", "genkit-runtime", "go-sdk", "js-sdk", "python-sdk"}
	// ratio is the median over rounds of metric(a)/metric(b), each pair
	// measured in the same round, so that the machine's drift between
	// rounds cancels out.
	ratio := func(scA, a, scB, b string, metric func(sample) float64) string {
		ra, rb := by[scA+"|"+a], by[scB+"|"+b]
		if ra == nil || rb == nil {
			return ""
		}
		var xs []float64
		for i := range min(len(ra.Samples), len(rb.Samples)) {
			x, y := metric(ra.Samples[i]), metric(rb.Samples[i])
			if x == 0 || y == 0 {
				continue
			}
			xs = append(xs, x/y)
		}
		if len(xs) == 0 {
			return ""
		}
		return fmt.Sprintf("%.2f", median(xs))
	}
	cpu := func(s sample) float64 { return float64(s.cpuPer()) }
	// columns returns target t's "÷ ceiling" and "runtime ÷ it" in scenario
	// sc, by metric.
	columns := func(sc, t string, metric func(sample) float64) (vsCeil, rtOver string) {
		if t != "ceiling" {
			vsCeil = ratio(sc, t, sc, "ceiling", metric)
		}
		if t != "genkit-runtime" && t != "ceiling" {
			rtOver = ratio(sc, "genkit-runtime", sc, t, metric)
		}
		return vsCeil, rtOver
	}
	// ownV1 is target t's "÷ own v1" in v2 scenario sc: the same server
	// over v2 against over v1, same workload and clients, same round.
	ownV1 := func(sc, t string, metric func(sample) float64) string {
		return ratio(sc, t, strings.TrimPrefix(sc, v2Prefix), t, metric)
	}

	// rows calls row for each server measured in each scenario of scs, and
	// prints a row saying why for each server skipped there; cols is the
	// number of columns after the server's.
	rows := func(scs []string, cols int, row func(sc, t string, s *summary)) {
		for _, sc := range scs {
			for _, t := range targets {
				if s := get(sc, t); s != nil {
					row(sc, t, s)
				} else if r := by[sc+"|"+t]; r != nil && r.Skipped != "" {
					fmt.Fprintf(w, "| %s | %s | skipped: %s |%s\n", sc, t, r.Skipped, strings.Repeat("|", cols-1))
				}
			}
		}
		fmt.Fprintln(w)
	}

	fmt.Fprintf(w, "Medians of %d interleaved rounds of %s each; %d CPUs shared by servers and load generator. "+
		"Ratios are medians of the ratios within each round.\n\n", rep.Rounds, rep.Duration, rep.CPUs)
	if len(unaryScs) > 0 {
		fmt.Fprintln(w, "| scenario | server | runs/s | p50 ms | p99 ms | max ms | CPU µs/run | ÷ ceiling | runtime ÷ it | spans/run exported | errors |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		rows(unaryScs, 9, func(sc, t string, s *summary) {
			vsCeil, rtOver := columns(sc, t, sample.rate)
			spans := ""
			if s.EndedSpansRun > 0 {
				spans = fmt.Sprintf("%.2f (%.2f posts)", s.EndedSpansRun, s.PostsPerRun)
			}
			fmt.Fprintf(w, "| %s | %s | %.0f | %.2f | %.2f | %.1f | %.0f | %s | %s | %s | %s |\n",
				sc, t, s.RunsPerSec, s.P50Ms, s.P99Ms, s.MaxMs, s.CPUPerRunUs, vsCeil, rtOver, spans, errCell(s))
		})
	}
	// Telemetry gone or hanging, against the same server with it present.
	var degraded []string
	for _, sc := range unaryScs {
		if strings.HasSuffix(sc, "+gone") || strings.HasSuffix(sc, "+hang") {
			degraded = append(degraded, sc)
		}
	}
	if len(degraded) > 0 {
		fmt.Fprintln(w, "| scenario | server | runs/s | ÷ runs/s with the sink present (echo/c16+export) | max ms |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|")
		for _, sc := range degraded {
			for _, t := range targets {
				s := get(sc, t)
				if s == nil {
					continue
				}
				r := ratio(sc, t, "echo/c16+export", t, sample.rate)
				fmt.Fprintf(w, "| %s | %s | %.0f | %s | %.1f |\n", sc, t, s.RunsPerSec, r, s.MaxMs)
			}
		}
		fmt.Fprintln(w)
	}
	if len(streamScs) > 0 {
		fmt.Fprintln(w, "| scenario | server | chunks/s | first chunk p50 ms | first chunk p99 ms | whole stream p50 ms | CPU µs/stream | ÷ ceiling | runtime ÷ it | errors |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, sc := range streamScs {
			for _, t := range targets {
				s := get(sc, t)
				if s == nil {
					continue
				}
				vsCeil, rtOver := columns(sc, t, sample.chunkRate)
				fmt.Fprintf(w, "| %s | %s | %.0f | %.3f | %.3f | %.2f | %.0f | %s | %s | %d |\n",
					sc, t, s.ChunksPerSec, s.FirstChunkMs, s.FirstChunk99, s.P50Ms, s.CPUPerRunUs, vsCeil, rtOver, s.Errors)
			}
		}
		fmt.Fprintln(w)
	}
	if len(listScs) > 0 {
		fmt.Fprintln(w, "| scenario | server | bytes/listing | listings/s | p50 ms | CPU ms/listing | CPU ms per MB | CPU ÷ ceiling's | errors |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|")
		for _, sc := range listScs {
			ceil := get(sc, "ceiling")
			for _, t := range targets {
				s := get(sc, t)
				if s == nil {
					if r := by[sc+"|"+t]; r != nil && r.Skipped != "" {
						fmt.Fprintf(w, "| %s | %s | skipped: %s |||||||\n", sc, t, r.Skipped)
					}
					continue
				}
				var vs string
				if ceil != nil && t != "ceiling" {
					vs = ratio(sc, t, sc, "ceiling", cpu)
				}
				perMB := 0.0
				if s.BytesPerRun > 0 {
					perMB = s.CPUPerRunUs / 1e3 / (s.BytesPerRun / 1e6)
				}
				fmt.Fprintf(w, "| %s | %s | %.0f | %.0f | %.2f | %.2f | %.2f | %s | %d |\n",
					sc, t, s.BytesPerRun, s.RunsPerSec, s.P50Ms, s.CPUPerRunUs/1e3, perMB, vs, s.Errors)
			}
		}
		fmt.Fprintln(w)
	}
	if len(v2UnaryScs) > 0 {
		fmt.Fprintln(w, "Reflection API v2 (each server dials a manager in the harness; every run is a runAction over that one connection):")
		fmt.Fprintln(w)
		fmt.Fprintln(w, "| scenario | server | runs/s | p50 ms | p99 ms | max ms | CPU µs/run | ÷ ceiling | ÷ own v1 | runtime ÷ it | errors |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		rows(v2UnaryScs, 9, func(sc, t string, s *summary) {
			vsCeil, rtOver := columns(sc, t, sample.rate)
			fmt.Fprintf(w, "| %s | %s | %.0f | %.2f | %.2f | %.1f | %.0f | %s | %s | %s | %s |\n",
				sc, t, s.RunsPerSec, s.P50Ms, s.P99Ms, s.MaxMs, s.CPUPerRunUs, vsCeil, ownV1(sc, t, sample.rate), rtOver, errCell(s))
		})
	}
	if len(v2StreamScs) > 0 {
		fmt.Fprintln(w, "| scenario | server | chunks/s | first chunk p50 ms | first chunk p99 ms | whole stream p50 ms | whole stream p99 ms | CPU µs/stream | ÷ ceiling | ÷ own v1 | runtime ÷ it | errors |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		rows(v2StreamScs, 10, func(sc, t string, s *summary) {
			vsCeil, rtOver := columns(sc, t, sample.chunkRate)
			fmt.Fprintf(w, "| %s | %s | %.0f | %.3f | %.3f | %.2f | %.2f | %.0f | %s | %s | %s | %s |\n",
				sc, t, s.ChunksPerSec, s.FirstChunkMs, s.FirstChunk99, s.P50Ms, s.P99Ms, s.CPUPerRunUs, vsCeil, ownV1(sc, t, sample.chunkRate), rtOver, errCell(s))
		})
	}
	printTargets(w, rep, by)
	if len(rep.Startup) > 0 {
		fmt.Fprintln(w, "| server | start to healthy ms (median) | idle RSS MB | peak RSS MB (off / export / list / v2) |")
		fmt.Fprintln(w, "|---|---:|---:|---|")
		for _, st := range rep.Startup {
			if len(st.ReadyMs) == 0 {
				continue
			}
			var peaks []string
			for _, m := range []mode{modeOff, modeExport, modeList, modeV2} {
				if p, ok := st.PeakRSSMB[m]; ok {
					peaks = append(peaks, fmt.Sprintf("%.1f", p))
				} else {
					peaks = append(peaks, "-")
				}
			}
			fmt.Fprintf(w, "| %s | %.1f | %.1f | %s |\n", st.Target, st.MedReady, st.MedIdle, strings.Join(peaks, " / "))
		}
		fmt.Fprintln(w)
	}
	if len(rep.Listings) > 0 {
		fmt.Fprintln(w, "| server | actions listed in the listing configuration |")
		fmt.Fprintln(w, "|---|---:|")
		for _, l := range rep.Listings {
			fmt.Fprintf(w, "| %s | %d |\n", l.Target, l.Actions)
		}
		fmt.Fprintln(w)
	}
	for _, n := range rep.Notes {
		fmt.Fprintln(w, "Note:", n)
	}
}

// A goal is one of genkit-runtime's performance targets: the ratio of a
// metric of one measurement to that of another made in the same round is
// at least want.
type goal struct {
	name   string
	scA, a string // scenario and server measured
	scB, b string // scenario and server it is divided by
	metric func(sample) float64
	want   float64
}

const rt = "genkit-runtime"

// goals are the targets the harness checks, like for like on the fixture
// actions.
var goals = []goal{
	{name: "echo, 16 clients ÷ ceiling", scA: "echo/c16", a: rt, scB: "echo/c16", b: "ceiling", metric: sample.rate, want: 0.9},
	{name: "echo, 16 clients ÷ Go SDK", scA: "echo/c16", a: rt, scB: "echo/c16", b: "go-sdk", metric: sample.rate, want: 1.4},
	{name: "greet, 16 clients ÷ ceiling", scA: "greet/c16", a: rt, scB: "greet/c16", b: "ceiling", metric: sample.rate, want: 0.75},
	{name: "steps (3 steps), 16 clients ÷ ceiling", scA: "steps3/c16", a: rt, scB: "steps3/c16", b: "ceiling", metric: sample.rate, want: 0.65},
	{name: "echo with export, 16 clients ÷ Go SDK", scA: "echo/c16+export", a: rt, scB: "echo/c16+export", b: "go-sdk", metric: sample.rate, want: 3},
	{name: "echo with export, 16 clients ÷ ceiling", scA: "echo/c16+export", a: rt, scB: "echo/c16+export", b: "ceiling", metric: sample.rate, want: 0.4},
	{name: "streaming, 1 client: chunks/s ÷ ceiling", scA: "count1000/c1", a: rt, scB: "count1000/c1", b: "ceiling", metric: sample.chunkRate, want: 0.9},
	{name: "streaming, 16 clients: chunks/s ÷ ceiling", scA: "count1000/c16", a: rt, scB: "count1000/c16", b: "ceiling", metric: sample.chunkRate, want: 0.9},
	{name: "v2 echo, 16 clients ÷ own v1 echo", scA: v2Prefix + "echo/c16", a: rt, scB: "echo/c16", b: rt, metric: sample.rate, want: 0.8},
	{name: "v2 echo, 16 clients ÷ Go SDK over v2", scA: v2Prefix + "echo/c16", a: rt, scB: v2Prefix + "echo/c16", b: "go-sdk", metric: sample.rate, want: 2},
	{name: "v2 echo, 64 clients ÷ Go SDK over v2", scA: v2Prefix + "echo/c64", a: rt, scB: v2Prefix + "echo/c64", b: "go-sdk", metric: sample.rate, want: 2},
}

// Start-up and idle memory targets of genkit-runtime.
const (
	startupTargetMs = 15
	idleTargetMB    = 15
)

// printTargets writes, for each goal the report has the measurements of,
// the ratio in every round, their median and whether it meets the goal,
// then genkit-runtime's start-up and idle memory against theirs.
func printTargets(w io.Writer, rep *report, by map[string]*result) {
	var rows []string
	for _, g := range goals {
		ra, rb := by[g.scA+"|"+g.a], by[g.scB+"|"+g.b]
		if ra == nil || rb == nil || ra.Skipped != "" || rb.Skipped != "" {
			continue
		}
		var per []string
		var xs []float64
		for i := range min(len(ra.Samples), len(rb.Samples)) {
			x, y := g.metric(ra.Samples[i]), g.metric(rb.Samples[i])
			if x == 0 || y == 0 {
				per = append(per, "-")
				continue
			}
			xs = append(xs, x/y)
			per = append(per, fmt.Sprintf("%.2f", x/y))
		}
		if len(xs) == 0 {
			continue
		}
		m := fmt.Sprintf("%.2f", median(xs))
		rows = append(rows, fmt.Sprintf("| %s | ≥ %.2f | %s | %s |", g.name, g.want, strings.Join(per, ", "), verdict(m, g.want)))
	}
	for _, st := range rep.Startup {
		if st.Target != rt || len(st.ReadyMs) == 0 {
			continue
		}
		rows = append(rows,
			fmt.Sprintf("| start to healthy, ms | < %d | %d starts | %s |", startupTargetMs, len(st.ReadyMs), below(st.MedReady, startupTargetMs)),
			fmt.Sprintf("| idle RSS, MB | < %d | %d starts | %s |", idleTargetMB, len(st.IdleRSSMB), below(st.MedIdle, idleTargetMB)))
	}
	if len(rows) == 0 {
		return
	}
	fmt.Fprintln(w, "| genkit-runtime target | goal | per round | median |")
	fmt.Fprintln(w, "|---|---:|---|---:|")
	for _, row := range rows {
		fmt.Fprintln(w, row)
	}
	fmt.Fprintln(w)
}

// verdict is a ratio as printed by printTable with whether it meets want.
func verdict(ratio string, want float64) string {
	x, err := strconv.ParseFloat(ratio, 64)
	if err != nil {
		return "n/a"
	}
	if x >= want {
		return ratio + " (met)"
	}
	return ratio + " (not met)"
}

// below is a median with whether it is under limit.
func below(x float64, limit int) string {
	if x < float64(limit) {
		return fmt.Sprintf("%.1f (met)", x)
	}
	return fmt.Sprintf("%.1f (not met)", x)
}

// errCell is the errors column: errors, and requests cut off.
func errCell(s *summary) string {
	e := fmt.Sprint(s.Errors)
	if s.Cut > 0 {
		e += fmt.Sprintf(", %d cut", s.Cut)
	}
	return e
}
