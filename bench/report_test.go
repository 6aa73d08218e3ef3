package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// rounds returns one result with a sample per round: runs/s (and chunks/s
// for streams) as given, over one second each.
func rounds(sc, target string, chunksPerRun int64, runsPerSec ...int64) *result {
	r := &result{Scenario: sc, Target: target, Conc: 16}
	for _, n := range runsPerSec {
		r.Samples = append(r.Samples, sample{OK: n, Elapsed: time.Second, CPU: time.Duration(n) * 100 * time.Microsecond,
			P50: time.Millisecond, P99: 2 * time.Millisecond, Max: 3 * time.Millisecond, Chunks: n * chunksPerRun})
	}
	r.Median = summarize(r.Samples)
	return r
}

// tableRow returns the row of the Markdown table in out that starts with
// the given cells, split into cells.
func tableRow(t *testing.T, out string, first ...string) []string {
	t.Helper()
	prefix := "| " + strings.Join(first, " | ") + " |"
	for line := range strings.SplitSeq(out, "\n") {
		if strings.HasPrefix(line, prefix) {
			cells := strings.Split(strings.Trim(line, "|"), "|")
			for i := range cells {
				cells[i] = strings.TrimSpace(cells[i])
			}
			return cells
		}
	}
	t.Fatalf("no row %q in:\n%s", prefix, out)
	return nil
}

// TestPrintTableV2 checks the v2 columns: each ratio is the median of the
// ratios within each round, "÷ own v1" divides a server over v2 by the
// same server over v1, and the targets say whether they are met.
func TestPrintTableV2(t *testing.T) {
	rep := &report{Rounds: 2, Duration: "1s", CPUs: 2, Results: []*result{
		rounds("echo/c16", "ceiling", 0, 4000, 4000),
		rounds("echo/c16", "genkit-runtime", 0, 1000, 1000),
		rounds("echo/c16", "go-sdk", 0, 800, 800),
		rounds("count1000/c1", "genkit-runtime", 1000, 100, 100),
		rounds("v2/echo/c16", "ceiling", 0, 1800, 1400),
		// Over v2: 0.9 and 0.7 of its v1 runs/s; the ratio of the
		// medians over rounds would be 0.8 too, but not the other ratios.
		rounds("v2/echo/c16", "genkit-runtime", 0, 900, 700),
		rounds("v2/echo/c16", "go-sdk", 0, 450, 350),
		rounds("v2/echo/c64", "genkit-runtime", 0, 500, 600),
		rounds("v2/echo/c64", "go-sdk", 0, 500, 400),
		rounds("v2/count1000/c1", "ceiling", 1000, 80, 80),
		rounds("v2/count1000/c1", "genkit-runtime", 1000, 40, 60),
		{Scenario: "v2/count1000/c1", Target: "js-sdk", Skipped: "not available in this mode"},
	}}
	var b bytes.Buffer
	printTable(&b, rep)
	out := b.String()

	// | scenario | server | runs/s | p50 | p99 | max | CPU | ÷ ceiling | ÷ own v1 | runtime ÷ it | errors |
	if row := tableRow(t, out, "v2/echo/c16", "genkit-runtime"); row[2] != "800" || row[7] != "0.50" || row[8] != "0.80" || row[9] != "" {
		t.Errorf("v2/echo/c16 genkit-runtime row: %q", row)
	}
	if row := tableRow(t, out, "v2/echo/c16", "go-sdk"); row[8] != "0.50" || row[9] != "2.00" {
		t.Errorf("v2/echo/c16 go-sdk row: %q", row)
	}
	if row := tableRow(t, out, "v2/echo/c16", "ceiling"); row[7] != "" || row[8] != "0.40" {
		t.Errorf("v2/echo/c16 ceiling row: %q", row)
	}
	// No v1 echo/c64 in this report: no "÷ own v1".
	if row := tableRow(t, out, "v2/echo/c64", "go-sdk"); row[8] != "" || row[9] != "1.25" {
		t.Errorf("v2/echo/c64 go-sdk row: %q", row)
	}
	// | scenario | server | chunks/s | first p50 | first p99 | whole p50 | whole p99 | CPU | ÷ ceiling | ÷ own v1 | runtime ÷ it | errors |
	if row := tableRow(t, out, "v2/count1000/c1", "genkit-runtime"); row[2] != "50000" || row[8] != "0.62" || row[9] != "0.50" {
		t.Errorf("v2/count1000/c1 genkit-runtime row: %q", row)
	}
	if row := tableRow(t, out, "v2/count1000/c1", "js-sdk"); row[2] != "skipped: not available in this mode" {
		t.Errorf("v2/count1000/c1 js-sdk row: %q", row)
	}
	// | target | goal | per round | median |
	if row := tableRow(t, out, "v2 echo, 16 clients ÷ own v1 echo", "≥ 0.80"); row[2] != "0.90, 0.70" || row[3] != "0.80 (met)" {
		t.Errorf("v2/echo/c16 target: %q", row)
	}
	if row := tableRow(t, out, "v2 echo, 16 clients ÷ Go SDK over v2", "≥ 2.00"); row[2] != "2.00, 2.00" || row[3] != "2.00 (met)" {
		t.Errorf("v2/echo/c16 Go SDK target: %q", row)
	}
	if row := tableRow(t, out, "v2 echo, 64 clients ÷ Go SDK over v2", "≥ 2.00"); row[2] != "1.00, 1.50" || row[3] != "1.25 (not met)" {
		t.Errorf("v2/echo/c64 target: %q", row)
	}
	if row := tableRow(t, out, "echo, 16 clients ÷ ceiling", "≥ 0.90"); row[3] != "0.25 (not met)" {
		t.Errorf("echo/c16 target: %q", row)
	}
	if strings.Contains(out, "| greet, 16 clients") {
		t.Error("a target without its measurements was printed")
	}
	// The v1 tables have no v2 rows.
	if row := tableRow(t, out, "echo/c16", "go-sdk"); row[8] != "1.25" {
		t.Errorf("echo/c16 go-sdk row: %q", row)
	}
	if n := strings.Count(out, "| v2/echo/c16 | genkit-runtime |"); n != 1 {
		t.Errorf("v2/echo/c16 genkit-runtime printed %d times", n)
	}

	// The JSON the harness writes prints the same tables again.
	path := filepath.Join(t.TempDir(), "bench.json")
	js, err := json.Marshal(rep)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, js, 0o644); err != nil {
		t.Fatal(err)
	}
	var again bytes.Buffer
	if err := reprint(&again, path); err != nil {
		t.Fatal(err)
	}
	if again.String() != out {
		t.Errorf("reprinted:\n%s\nwant:\n%s", again.String(), out)
	}
}

// TestReprintWithoutV2 prints results saved before the v2
// scenarios: the v1 tables, no v2 ones, and no v2 peak memory.
func TestReprintWithoutV2(t *testing.T) {
	var b bytes.Buffer
	if err := reprint(&b, filepath.Join("testdata", "results-round1.json")); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	if strings.Contains(out, "v2/") || strings.Contains(out, "Reflection API v2") {
		t.Errorf("v2 tables printed for a report without v2 results:\n%s", out)
	}
	if row := tableRow(t, out, "echo/c16", "go-sdk"); row[2] == "" || row[8] == "" {
		t.Errorf("echo/c16 go-sdk row: %q", row)
	}
	if row := tableRow(t, out, "genkit-runtime"); !strings.HasSuffix(row[3], " / -") {
		t.Errorf("peak RSS of genkit-runtime: %q", row[3])
	}
}
