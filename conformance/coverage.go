package conformance

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"unicode"
)

// rulesJSON is the catalogue of the rules the suite must cover: the
// numbered divergences and the suggested assertions of protocol.md §8.
//
//go:embed rules.json
var rulesJSON []byte

// Rule is a rule of the catalogue the suite is measured against.
type Rule struct {
	// Rule is how cases cite it, such as "protocol.md §8.9".
	Rule string `json:"rule"`
	// Title says what it asks for.
	Title string `json:"title"`
	// Untestable, when set, says why no case can check the rule over the
	// wire.
	Untestable string `json:"untestable,omitempty"`
}

// Rules returns the catalogue of rules the suite's coverage is measured
// against: every numbered divergence and every suggested assertion of
// protocol.md §8.
func Rules() []Rule {
	var cat struct {
		Rules []Rule `json:"rules"`
	}
	if err := json.Unmarshal(rulesJSON, &cat); err != nil {
		panic("conformance: rules.json: " + err.Error()) // checked by the tests
	}
	return cat.Rules
}

// Cites reports whether a case's citation cites rule: it is the rule, or
// the rule followed by a qualifier ("protocol.md §8.9 GENKIT_RUNTIME_ID"
// cites "protocol.md §8.9", and "protocol.md §8.10" does not).
func Cites(citation, rule string) bool {
	rest, ok := strings.CutPrefix(citation, rule)
	if !ok {
		return false
	}
	if rest == "" {
		return true
	}
	r := []rune(rest)[0]
	return !unicode.IsDigit(r) && r != '.'
}

// RuleCoverage is a rule and the cases citing it.
type RuleCoverage struct {
	Rule
	// Cases are the IDs of the cases citing the rule.
	Cases []string
}

// Covered reports whether a case cites the rule.
func (c RuleCoverage) Covered() bool { return len(c.Cases) > 0 }

// Coverage maps each rule of the catalogue to the cases citing it.
type Coverage []RuleCoverage

// CoverageOf maps each rule of Rules to the suite's cases citing it.
func CoverageOf(s *Suite) Coverage {
	var cov Coverage
	for _, r := range Rules() {
		rc := RuleCoverage{Rule: r}
		for _, c := range s.Cases {
			if slices.ContainsFunc(c.Rules, func(cit string) bool { return Cites(cit, r.Rule) }) {
				rc.Cases = append(rc.Cases, c.ID)
			}
		}
		cov = append(cov, rc)
	}
	return cov
}

// Counts returns how many rules cases cover, how many are not testable
// over the wire (and not covered), and how many are neither.
func (cov Coverage) Counts() (covered, untestable, uncovered int) {
	for _, c := range cov {
		switch {
		case c.Covered():
			covered++
		case c.Untestable != "":
			untestable++
		default:
			uncovered++
		}
	}
	return covered, untestable, uncovered
}

// Uncovered returns the rules no case cites and none is marked
// untestable.
func (cov Coverage) Uncovered() []string {
	var out []string
	for _, c := range cov {
		if !c.Covered() && c.Untestable == "" {
			out = append(out, c.Rule.Rule)
		}
	}
	return out
}

// WriteMarkdown writes the coverage map as Markdown: the counts, then a
// table of the rules with the cases citing each, or why none can.
func (cov Coverage) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	covered, untestable, uncovered := cov.Counts()
	fmt.Fprintf(&b, "**%d of %d rules covered** by at least one case; %d not testable over the wire; %d not covered.\n\n",
		covered, len(cov), untestable, uncovered)
	b.WriteString("| rule | what it asks | cases |\n|---|---|---|\n")
	for _, c := range cov {
		var cell string
		switch {
		case c.Covered():
			var ids []string
			for _, id := range c.Cases {
				ids = append(ids, "`"+id+"`")
			}
			cell = strings.Join(ids, ", ")
		case c.Untestable != "":
			cell = "not testable over the wire: " + mdCell(c.Untestable)
		default:
			cell = "**not covered**"
		}
		fmt.Fprintf(&b, "| %s | %s | %s |\n", mdCell(strings.TrimPrefix(c.Rule.Rule, "protocol.md ")), mdCell(c.Title), cell)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// The markers between which UpdateCoverage writes the coverage map.
const (
	CoverageBegin = "<!-- conformance-coverage:begin -->"
	CoverageEnd   = "<!-- conformance-coverage:end -->"
)

// UpdateCoverage rewrites the part of the file at path between
// CoverageBegin and CoverageEnd with the coverage map, leaving the rest of
// the file as it is.
func UpdateCoverage(path string, cov Coverage) error {
	return updateSection(path, CoverageBegin, CoverageEnd, cov.WriteMarkdown)
}

// updateSection rewrites the part of the file at path between the
// markers begin and end with what write writes.
func updateSection(path, begin, end string, write func(io.Writer) error) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	i := bytes.Index(data, []byte(begin))
	j := bytes.Index(data, []byte(end))
	if i < 0 || j < i {
		return errors.New(path + ": no " + begin + " ... " + end + " section")
	}
	var b bytes.Buffer
	b.Write(data[:i+len(begin)])
	b.WriteString("\n")
	if err := write(&b); err != nil {
		return err
	}
	b.Write(data[j:])
	return os.WriteFile(path, b.Bytes(), 0o644)
}

// compareRules orders rule citations by their text, with runs of digits
// compared as numbers, so that §8.2 comes before §8.10.
func compareRules(a, b string) int {
	for a != "" && b != "" {
		da, db := leadingDigits(a), leadingDigits(b)
		if da != "" && db != "" {
			na, _ := strconv.Atoi(da)
			nb, _ := strconv.Atoi(db)
			if na != nb {
				return na - nb
			}
			a, b = a[len(da):], b[len(db):]
			continue
		}
		ra, rb := []rune(a)[0], []rune(b)[0]
		if ra != rb {
			return int(ra) - int(rb)
		}
		a, b = a[len(string(ra)):], b[len(string(rb)):]
	}
	return len(a) - len(b)
}

func leadingDigits(s string) string {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return s[:i]
}

// WriteList writes the suite's cases, one per line with the transports
// they run over and their titles, each followed by the rules it cites;
// then the suite's version and size.
func (s *Suite) WriteList(w io.Writer) error {
	var b strings.Builder
	for _, c := range s.Cases {
		tr := "v1,v2"
		if c.Transport != "" {
			tr = string(c.Transport)
		}
		fmt.Fprintf(&b, "%-36s %-5s  %s\n", c.ID, tr, c.Title)
		fmt.Fprintf(&b, "%-36s %-5s  rules: %s\n", "", "", strings.Join(c.Rules, "; "))
	}
	v1, v2 := 0, 0
	for _, c := range s.Cases {
		if c.Applies(V1) {
			v1++
		}
		if c.Applies(V2) {
			v2++
		}
	}
	fmt.Fprintf(&b, "suite %s: %d cases (%d over v1, %d over v2)\n", s.Version(), len(s.Cases), v1, v2)
	_, err := io.WriteString(w, b.String())
	return err
}
