package conformance

import (
	"bytes"
	"fmt"
	"io"
	"slices"
	"strings"
)

// WriteMatrix writes reports side by side as Markdown: one row per case,
// one column per report, with the counts, then for each report the cases
// that failed with their first difference, and those unsupported with why.
// A case that does not apply to a report's transport shows "n/a".
func WriteMatrix(w io.Writer, reports []*Report) error {
	type row struct {
		id, title string
		rules     []string
	}
	var rows []row
	seen := map[string]bool{}
	results := make([]map[string]CaseResult, len(reports))
	for i, r := range reports {
		results[i] = map[string]CaseResult{}
		for _, c := range r.Cases {
			results[i][c.ID] = c
			if !seen[c.ID] {
				seen[c.ID] = true
				rows = append(rows, row{c.ID, c.Title, c.Rules})
			}
		}
	}
	slices.SortStableFunc(rows, func(a, b row) int { return strings.Compare(a.id, b.id) })

	var b bytes.Buffer
	b.WriteString("| case | rules |")
	for _, r := range reports {
		fmt.Fprintf(&b, " %s |", mdCell(r.Column()))
	}
	b.WriteString("\n|---|---|")
	for range reports {
		b.WriteString("---|")
	}
	b.WriteString("\n| **passed / failed / unsupported** | |")
	for _, r := range reports {
		fmt.Fprintf(&b, " %d / %d / %d |", r.Summary.Pass, r.Summary.Fail, r.Summary.Unsupported)
	}
	b.WriteString("\n| **schema-valid messages / received** | |")
	for _, r := range reports {
		if r.Schema == nil {
			b.WriteString(" n/a |")
			continue
		}
		fmt.Fprintf(&b, " %d / %d |", r.Schema.Messages-r.Schema.Invalid, r.Schema.Messages)
	}
	b.WriteString("\n")
	for _, rw := range rows {
		fmt.Fprintf(&b, "| `%s` %s | %s |", rw.id, mdCell(rw.title), mdCell(strings.Join(rw.rules, ", ")))
		for i := range reports {
			c, ok := results[i][rw.id]
			switch {
			case !ok:
				b.WriteString(" n/a |")
			case c.Outcome == Pass:
				b.WriteString(" pass |")
			case c.Outcome == Fail:
				b.WriteString(" **FAIL** |")
			default:
				b.WriteString(" unsupported |")
			}
		}
		b.WriteString("\n")
	}
	for _, r := range reports {
		fmt.Fprintf(&b, "\n### %s\n\n", r.Column())
		if r.GenkitVersion != "" {
			fmt.Fprintf(&b, "Runtime `%s`", r.GenkitVersion)
			if r.Command != "" {
				fmt.Fprintf(&b, ", started with `%s`", r.Command)
			}
			if r.SuiteVersion != "" {
				fmt.Fprintf(&b, "; suite `%s`", r.SuiteVersion)
			}
			b.WriteString(".\n\n")
		}
		for _, s := range r.Setup {
			fmt.Fprintf(&b, "- setup: %s\n", mdCell(s))
		}
		n := 0
		for _, c := range r.Cases {
			switch c.Outcome {
			case Fail:
				fmt.Fprintf(&b, "- **FAIL** `%s`: %s\n", c.ID, mdInline(c.FirstProblem()))
				n++
			case Unsupported:
				fmt.Fprintf(&b, "- unsupported `%s`: %s\n", c.ID, mdInline(c.Reason))
				n++
			}
		}
		if n == 0 {
			b.WriteString("Every case passes.\n")
		}
	}
	_, err := w.Write(b.Bytes())
	return err
}

// mdInline makes text safe inside a Markdown list item, and cuts it.
func mdInline(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	s = strings.ReplaceAll(s, "`", "'")
	if len(s) > 400 {
		s = cut(s, 400) + "…"
	}
	return s
}

// The markers between which UpdateMatrix writes the matrix.
const (
	MatrixBegin = "<!-- conformance-matrix:begin -->"
	MatrixEnd   = "<!-- conformance-matrix:end -->"
)

// UpdateMatrix rewrites the part of the file at path between MatrixBegin
// and MatrixEnd with the matrix of reports, leaving the rest of the file
// as it is.
func UpdateMatrix(path string, reports []*Report) error {
	return updateSection(path, MatrixBegin, MatrixEnd, func(w io.Writer) error { return WriteMatrix(w, reports) })
}
