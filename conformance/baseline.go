package conformance

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
)

// A baseline is the list of cases a runtime is known to fail (its
// expected failures). A run matches its baseline when exactly the listed
// cases fail: a case failing that is not listed is a new failure, and a
// listed case that does not fail (it passes, is unsupported, or did not
// run) is a stale entry, so the baseline never hides a fixed divergence.

// ReadBaseline reads a baseline: one case ID per line; blank lines and
// text after '#' are ignored.
func ReadBaseline(r io.Reader) ([]string, error) {
	var ids []string
	sc := bufio.NewScanner(r)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		if i := strings.IndexByte(line, '#'); i >= 0 {
			line = line[:i]
		}
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.ContainsAny(line, " \t") {
			return nil, fmt.Errorf("line %d: %q is not a case ID", n, line)
		}
		ids = append(ids, line)
	}
	return ids, sc.Err()
}

// ReadBaselineFile reads the baseline in the file at path.
func ReadBaselineFile(path string) ([]string, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	ids, err := ReadBaseline(f)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return ids, nil
}

// BaselineResult compares a report with its baseline.
type BaselineResult struct {
	// NewFailures are the cases that failed and are not listed.
	NewFailures []string
	// Stale are the listed cases that did not fail, each with what
	// happened to it instead.
	Stale []StaleEntry
}

// StaleEntry is a listed case that did not fail.
type StaleEntry struct {
	ID string
	// Outcome is the case's outcome; empty when it did not run (no such
	// case, or not one for this transport).
	Outcome Outcome
}

// String says what became of the entry.
func (e StaleEntry) String() string {
	switch e.Outcome {
	case Pass:
		return e.ID + " now passes"
	case Unsupported:
		return e.ID + " is unsupported"
	case "":
		return e.ID + " did not run"
	}
	return e.ID + " " + string(e.Outcome)
}

// OK reports whether exactly the listed cases failed.
func (b BaselineResult) OK() bool { return len(b.NewFailures) == 0 && len(b.Stale) == 0 }

// CompareBaseline compares the report's failures with the expected
// failures.
func (r *Report) CompareBaseline(expected []string) BaselineResult {
	var res BaselineResult
	outcome := map[string]Outcome{}
	for _, c := range r.Cases {
		outcome[c.ID] = c.Outcome
		if c.Outcome == Fail && !slices.Contains(expected, c.ID) {
			res.NewFailures = append(res.NewFailures, c.ID)
		}
	}
	seen := map[string]bool{}
	for _, id := range expected {
		if seen[id] {
			continue
		}
		seen[id] = true
		if o := outcome[id]; o != Fail {
			res.Stale = append(res.Stale, StaleEntry{ID: id, Outcome: o})
		}
	}
	slices.Sort(res.NewFailures)
	slices.SortFunc(res.Stale, func(a, b StaleEntry) int { return strings.Compare(a.ID, b.ID) })
	return res
}

// WriteText writes the comparison: a line per new failure and per stale
// entry, or that the run matches its baseline.
func (b BaselineResult) WriteText(w io.Writer) error {
	var s strings.Builder
	if b.OK() {
		s.WriteString("baseline: exactly the expected cases failed\n")
	}
	for _, id := range b.NewFailures {
		fmt.Fprintf(&s, "baseline: new failure: %s\n", id)
	}
	for _, e := range b.Stale {
		fmt.Fprintf(&s, "baseline: expected to fail, but %s\n", e)
	}
	_, err := io.WriteString(w, s.String())
	return err
}
