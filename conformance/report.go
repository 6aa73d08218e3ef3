package conformance

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"time"
)

// Outcome is the result of one case.
type Outcome string

// The outcomes.
const (
	// Pass: every step's observation matched.
	Pass Outcome = "pass"
	// Fail: a step's observation did not match, or a step could not run.
	Fail Outcome = "fail"
	// Unsupported: the runtime lacks an action the case requires, or the
	// target lacks a capability it needs.
	Unsupported Outcome = "unsupported"
)

// Report is the result of running a suite against one target.
type Report struct {
	// Target names the runtime, Transport the transport tested.
	Target    string    `json:"target"`
	Transport Transport `json:"transport"`
	// SuiteVersion identifies the case set that ran (Suite.Version), so
	// that two reports can be compared.
	SuiteVersion string `json:"suiteVersion"`
	// Command started the runtime; URL is where it was reached (v1).
	Command string `json:"command,omitempty"`
	URL     string `json:"url,omitempty"`
	// GenkitVersion is what the runtime says it is: the runtime file's
	// or register's genkitVersion, else the X-Genkit-Version header.
	GenkitVersion string    `json:"genkitVersion,omitempty"`
	Started       time.Time `json:"started"`
	// Duration is the suite's running time.
	Duration Duration `json:"duration"`
	// Setup lists problems met before the cases ran.
	Setup   []string     `json:"setup,omitempty"`
	Summary Summary      `json:"summary"`
	Cases   []CaseResult `json:"cases"`
	// Schema counts the messages validated against spec/'s schemas.
	Schema *SchemaSummary `json:"schema,omitempty"`
	// Output is the end of the runtime's output, kept when a case failed.
	Output string `json:"output,omitempty"`
}

// Summary counts the outcomes.
type Summary struct {
	Pass        int `json:"pass"`
	Fail        int `json:"fail"`
	Unsupported int `json:"unsupported"`
}

// CaseResult is the outcome of one case.
type CaseResult struct {
	ID      string   `json:"id"`
	Title   string   `json:"title"`
	Rules   []string `json:"rules"`
	Outcome Outcome  `json:"outcome"`
	// Reason says why a case is unsupported.
	Reason   string       `json:"reason,omitempty"`
	Duration Duration     `json:"duration"`
	Steps    []StepResult `json:"steps,omitempty"`
}

// StepResult is the outcome of one step of a failed case.
type StepResult struct {
	Step string `json:"step"`
	// Skipped reports a step not run after an earlier failure.
	Skipped bool `json:"skipped,omitempty"`
	// Error says why the step could not run.
	Error      string     `json:"error,omitempty"`
	Mismatches []Mismatch `json:"mismatches,omitempty"`
	// Observation is what the step saw, as JSON with long strings cut; it
	// is kept for failed steps.
	Observation json.RawMessage `json:"observation,omitempty"`
}

// Failed reports whether the step failed.
func (s StepResult) Failed() bool { return s.Error != "" || len(s.Mismatches) > 0 }

// Duration is a time.Duration that encodes as milliseconds in JSON.
type Duration time.Duration

// MarshalJSON encodes d as a number of milliseconds.
func (d Duration) MarshalJSON() ([]byte, error) {
	return json.Marshal(float64(time.Duration(d).Microseconds()) / 1000)
}

// UnmarshalJSON decodes a number of milliseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	var ms float64
	if err := json.Unmarshal(b, &ms); err != nil {
		return err
	}
	*d = Duration(ms * float64(time.Millisecond))
	return nil
}

// String formats d like time.Duration, rounded to the millisecond.
func (d Duration) String() string { return time.Duration(d).Round(time.Millisecond).String() }

// Failed reports whether any case failed.
func (r *Report) Failed() bool { return r.Summary.Fail > 0 }

// Column names the report's column in a matrix: "target (transport)".
func (r *Report) Column() string { return fmt.Sprintf("%s (%s)", r.Target, r.Transport) }

// WriteJSON writes the report as indented JSON.
func (r *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadReport reads a report written by WriteJSON from a file.
func ReadReport(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return &r, nil
}

// WriteText writes a readable report: one line per case, the diffs of
// the failed ones, and the summary.
func (r *Report) WriteText(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "conformance: %s over %s", r.Target, r.Transport)
	if r.GenkitVersion != "" {
		fmt.Fprintf(&b, " (%s)", r.GenkitVersion)
	}
	fmt.Fprintf(&b, ", suite %s\n", r.SuiteVersion)
	for _, s := range r.Setup {
		fmt.Fprintf(&b, "setup: %s\n", s)
	}
	for _, c := range r.Cases {
		b.WriteString(c.Line())
		b.WriteString("\n")
		if c.Outcome == Fail {
			b.WriteString(indent(c.Diff(), "    "))
		}
	}
	fmt.Fprintf(&b, "%d passed, %d failed, %d unsupported, of %d cases in %s\n",
		r.Summary.Pass, r.Summary.Fail, r.Summary.Unsupported, len(r.Cases), r.Duration)
	if r.Schema != nil {
		b.WriteString(r.Schema.Text())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// Line is the one-line summary of the case.
func (c CaseResult) Line() string {
	s := fmt.Sprintf("%-11s %s (%s)", strings.ToUpper(string(c.Outcome)), c.ID, c.Duration)
	if c.Reason != "" {
		s += ": " + c.Reason
	}
	return s
}

// Diff renders the failed steps of the case: for each, its error or the
// expected and observed values that differ.
func (c CaseResult) Diff() string {
	var b strings.Builder
	for _, s := range c.Steps {
		if !s.Failed() {
			continue
		}
		fmt.Fprintf(&b, "%s:\n", s.Step)
		if s.Error != "" {
			fmt.Fprintf(&b, "  error: %s\n", s.Error)
		}
		for _, m := range s.Mismatches {
			b.WriteString(m.String())
			b.WriteString("\n")
		}
	}
	return b.String()
}

// FirstProblem is a one-line account of the case's first failure.
func (c CaseResult) FirstProblem() string {
	for _, s := range c.Steps {
		if s.Error != "" {
			return s.Step + ": " + s.Error
		}
		if len(s.Mismatches) > 0 {
			m := s.Mismatches[0]
			t := fmt.Sprintf("%s: at %s want %s, got %s", s.Step, m.Path, m.Want, m.Got)
			if m.Reason != "" {
				t += " (" + m.Reason + ")"
			}
			return t
		}
	}
	return ""
}

func indent(s, prefix string) string {
	if s == "" {
		return ""
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	for i, l := range lines {
		lines[i] = prefix + l
	}
	return strings.Join(lines, "\n") + "\n"
}

// WriteMarkdown writes the report as Markdown: a summary, a table of the
// cases and the diffs of the failed ones.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "# Conformance: %s over %s\n\n", r.Target, r.Transport)
	if r.GenkitVersion != "" {
		fmt.Fprintf(&b, "- runtime: `%s`\n", r.GenkitVersion)
	}
	if r.Command != "" {
		fmt.Fprintf(&b, "- command: `%s`\n", r.Command)
	}
	if r.URL != "" {
		fmt.Fprintf(&b, "- url: %s\n", r.URL)
	}
	fmt.Fprintf(&b, "- suite: `%s`\n", r.SuiteVersion)
	fmt.Fprintf(&b, "- %d passed, %d failed, %d unsupported, of %d cases in %s\n\n",
		r.Summary.Pass, r.Summary.Fail, r.Summary.Unsupported, len(r.Cases), r.Duration)
	if r.Schema != nil {
		fmt.Fprintf(&b, "- messages validated against the schemas of spec/: %s\n\n", r.Schema)
	}
	for _, s := range r.Setup {
		fmt.Fprintf(&b, "- setup: %s\n", mdCell(s))
	}
	b.WriteString("| case | outcome | rules | checks |\n|---|---|---|---|\n")
	for _, c := range r.Cases {
		o := outcomeMark(c.Outcome)
		if c.Reason != "" {
			o += " " + mdCell(c.Reason)
		}
		fmt.Fprintf(&b, "| `%s` | %s | %s | %s |\n", c.ID, o, mdCell(strings.Join(c.Rules, ", ")), mdCell(c.Title))
	}
	for _, c := range r.Cases {
		if c.Outcome != Fail {
			continue
		}
		fmt.Fprintf(&b, "\n## `%s` fails\n\n%s\n\n```diff\n%s```\n", c.ID, c.Title, c.Diff())
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func outcomeMark(o Outcome) string {
	switch o {
	case Pass:
		return "pass"
	case Fail:
		return "**FAIL**"
	case Unsupported:
		return "unsupported"
	}
	return ""
}

// mdCell escapes text for a Markdown table cell.
func mdCell(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	s = strings.ReplaceAll(s, "\n", " ")
	return s
}
