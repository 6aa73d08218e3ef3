package main

import (
	"fmt"
	"io"
	"strings"
)

// printTable writes the results as Markdown tables: one for runs, one for
// streams, one for listing, one for start-up and memory.
func printTable(w io.Writer, rep *report) {
	by := map[string]*result{}
	var unaryScs, streamScs, listScs []string
	seen := map[string]bool{}
	for _, r := range rep.Results {
		by[r.Scenario+"|"+r.Target] = r
		if seen[r.Scenario] {
			continue
		}
		seen[r.Scenario] = true
		switch {
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

	fmt.Fprintf(w, "Medians of %d interleaved rounds of %s each; %d CPUs shared by servers and load generator. "+
		"Ratios are medians of the ratios within each round.\n\n", rep.Rounds, rep.Duration, rep.CPUs)
	if len(unaryScs) > 0 {
		fmt.Fprintln(w, "| scenario | server | runs/s | p50 ms | p99 ms | max ms | CPU µs/run | ÷ ceiling | runtime ÷ it | spans/run exported | errors |")
		fmt.Fprintln(w, "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
		for _, sc := range unaryScs {
			for _, t := range targets {
				s := get(sc, t)
				if s == nil {
					if r := by[sc+"|"+t]; r != nil && r.Skipped != "" {
						fmt.Fprintf(w, "| %s | %s | skipped: %s |||||||||\n", sc, t, r.Skipped)
					}
					continue
				}
				vsCeil, rtOver := columns(sc, t, sample.rate)
				spans := ""
				if s.EndedSpansRun > 0 {
					spans = fmt.Sprintf("%.2f (%.2f posts)", s.EndedSpansRun, s.PostsPerRun)
				}
				errs := fmt.Sprint(s.Errors)
				if s.Cut > 0 {
					errs += fmt.Sprintf(", %d cut", s.Cut)
				}
				fmt.Fprintf(w, "| %s | %s | %.0f | %.2f | %.2f | %.1f | %.0f | %s | %s | %s | %s |\n",
					sc, t, s.RunsPerSec, s.P50Ms, s.P99Ms, s.MaxMs, s.CPUPerRunUs, vsCeil, rtOver, spans, errs)
			}
		}
		fmt.Fprintln(w)
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
	if len(rep.Startup) > 0 {
		fmt.Fprintln(w, "| server | start to healthy ms (median) | idle RSS MB | peak RSS MB (off / export / list) |")
		fmt.Fprintln(w, "|---|---:|---:|---|")
		for _, st := range rep.Startup {
			if len(st.ReadyMs) == 0 {
				continue
			}
			fmt.Fprintf(w, "| %s | %.1f | %.1f | %.1f / %.1f / %.1f |\n", st.Target, st.MedReady, st.MedIdle,
				st.PeakRSSMB[modeOff], st.PeakRSSMB[modeExport], st.PeakRSSMB[modeList])
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
