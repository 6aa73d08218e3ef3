package conformance_test

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"slices"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/genkit-runtime/genkit-runtime/conformance"
)

// sampleReport is a report of three cases: one passed, one failed with a
// diff, one unsupported.
func sampleReport() *conformance.Report {
	return &conformance.Report{
		Target: "sample", Transport: conformance.V1, SuiteVersion: "0123456789ab",
		Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Duration: conformance.Duration(1500 * time.Millisecond),
		Summary: conformance.Summary{Pass: 1, Fail: 1, Unsupported: 1},
		Cases: []conformance.CaseResult{
			{ID: "run/echo", Title: "echo echoes", Rules: []string{"fixture.md"}, Outcome: conformance.Pass},
			{ID: "run/fail-codes", Title: "codes are canonical", Rules: []string{"protocol.md §8.3"}, Outcome: conformance.Fail,
				Steps: []conformance.StepResult{{Step: "step 1 (run)", Mismatches: []conformance.Mismatch{
					{Path: "final.error.code", Want: "1", Got: "499"}}}}},
			{ID: "v1/actions-dap-expanded", Title: "DAPs expand", Rules: []string{"protocol.md §4"},
				Outcome: conformance.Unsupported, Reason: "the runtime lists no /dynamic-action-provider/fixtureTools"},
		},
	}
}

// junitDoc is the part of JUnit XML that CI systems read.
type junitDoc struct {
	XMLName xml.Name `xml:"testsuites"`
	Tests   int      `xml:"tests,attr"`
	Suites  []struct {
		Name     string `xml:"name,attr"`
		Tests    int    `xml:"tests,attr"`
		Failures int    `xml:"failures,attr"`
		Skipped  int    `xml:"skipped,attr"`
		Props    []struct {
			Name  string `xml:"name,attr"`
			Value string `xml:"value,attr"`
		} `xml:"properties>property"`
		Cases []struct {
			Name    string `xml:"name,attr"`
			Class   string `xml:"classname,attr"`
			Failure *struct {
				Message string `xml:"message,attr"`
				Text    string `xml:",chardata"`
			} `xml:"failure"`
			Skipped *struct {
				Message string `xml:"message,attr"`
			} `xml:"skipped"`
		} `xml:"testcase"`
	} `xml:"testsuite"`
}

func TestWriteJUnit(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteJUnit(&b); err != nil {
		t.Fatal(err)
	}
	var doc junitDoc
	if err := xml.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatalf("not XML: %v\n%s", err, b.String())
	}
	if len(doc.Suites) != 1 {
		t.Fatalf("%d test suites, want 1", len(doc.Suites))
	}
	s := doc.Suites[0]
	if s.Name != "sample (v1)" || s.Tests != 3 || s.Failures != 1 || s.Skipped != 1 || doc.Tests != 3 {
		t.Errorf("suite %q: tests %d, failures %d, skipped %d (total %d); want sample (v1), 3, 1, 1 (3)",
			s.Name, s.Tests, s.Failures, s.Skipped, doc.Tests)
	}
	if !slices.ContainsFunc(s.Props, func(p struct {
		Name  string `xml:"name,attr"`
		Value string `xml:"value,attr"`
	}) bool {
		return p.Name == "suiteVersion" && p.Value == "0123456789ab"
	}) {
		t.Errorf("no suiteVersion property: %+v", s.Props)
	}
	var names []string
	for _, c := range s.Cases {
		names = append(names, c.Name)
	}
	if diff := cmp.Diff([]string{"run/echo", "run/fail-codes", "v1/actions-dap-expanded"}, names); diff != "" {
		t.Errorf("test cases (-want +got):\n%s", diff)
	}
	if c := s.Cases[0]; c.Failure != nil || c.Skipped != nil || c.Class != "v1.run" {
		t.Errorf("passed case: %+v", c)
	}
	if f := s.Cases[1].Failure; f == nil || !strings.Contains(f.Text, "- want: 1\n+ got:  499") ||
		!strings.Contains(f.Text, "protocol.md §8.3") || !strings.Contains(f.Message, "final.error.code") {
		t.Errorf("failed case's failure does not hold its diff and rules: %+v", f)
	}
	if sk := s.Cases[2].Skipped; sk == nil || !strings.Contains(sk.Message, "fixtureTools") {
		t.Errorf("unsupported case is not skipped with its reason: %+v", sk)
	}
}

func TestReadBaseline(t *testing.T) {
	ids, err := conformance.ReadBaseline(strings.NewReader("# known divergences\nrun/fail-codes\n\n  v1/envs  # no /api/envs\n"))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"run/fail-codes", "v1/envs"}, ids); diff != "" {
		t.Errorf("ids (-want +got):\n%s", diff)
	}
	if _, err := conformance.ReadBaseline(strings.NewReader("run/a run/b\n")); err == nil {
		t.Error("two ids on a line: no error")
	}
}

func TestCompareBaseline(t *testing.T) {
	rep := sampleReport()
	for _, tc := range []struct {
		name     string
		expected []string
		ok       bool
		text     []string
	}{
		{"exactly the failures", []string{"run/fail-codes"}, true, []string{"exactly the expected cases failed"}},
		{"a passing case listed, a failing one missing", []string{"run/echo"}, false,
			[]string{"new failure: run/fail-codes", "run/echo now passes"}},
		{"an unsupported case listed", []string{"run/fail-codes", "v1/actions-dap-expanded"}, false,
			[]string{"v1/actions-dap-expanded is unsupported"}},
		{"an unknown case listed", []string{"run/fail-codes", "run/nope"}, false, []string{"run/nope did not run"}},
		{"nothing listed", nil, false, []string{"new failure: run/fail-codes"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := rep.CompareBaseline(tc.expected)
			if res.OK() != tc.ok {
				t.Errorf("OK() = %v, want %v: %+v", res.OK(), tc.ok, res)
			}
			var b strings.Builder
			res.WriteText(&b)
			for _, want := range tc.text {
				if !strings.Contains(b.String(), want) {
					t.Errorf("text does not say %q:\n%s", want, b.String())
				}
			}
		})
	}
}

func TestSuiteVersion(t *testing.T) {
	a := `{"title": "a", "rules": ["r"], "steps": [{"http": {"method": "GET", "path": "/"}, "expect": {"status": 200}}], "transport": "v1"}`
	load := func(files map[string]string) string {
		t.Helper()
		fsys := fstest.MapFS{}
		for name, data := range files {
			fsys[name] = &fstest.MapFile{Data: []byte(data)}
		}
		s, err := conformance.Load(fsys)
		if err != nil {
			t.Fatal(err)
		}
		return s.Version()
	}
	v := load(map[string]string{"v1/a.json": a})
	if len(v) != 12 {
		t.Errorf("version %q: want 12 hex digits", v)
	}
	if w := load(map[string]string{"v1/a.json": strings.ReplaceAll(a, ", ", ",\n  ")}); w != v {
		t.Errorf("a change of layout changes the version: %s, then %s", v, w)
	}
	if w := load(map[string]string{"v1/a.json": strings.Replace(a, "200", "404", 1)}); w == v {
		t.Error("a changed case keeps the version")
	}
	if w := load(map[string]string{"v1/b.json": a}); w == v {
		t.Error("a renamed case keeps the version")
	}
	s, err := conformance.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	dir, err := conformance.LoadDir("cases")
	if err != nil {
		t.Fatal(err)
	}
	if s.Version() != dir.Version() || len(s.Cases) != len(dir.Cases) {
		t.Errorf("the embedded suite (%s, %d cases) is not the cases folder (%s, %d cases)",
			s.Version(), len(s.Cases), dir.Version(), len(dir.Cases))
	}
}

func TestWriteList(t *testing.T) {
	s, err := conformance.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := s.WriteList(&b); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, c := range s.Cases {
		if !strings.Contains(out, c.ID+" ") || !strings.Contains(out, strings.Join(c.Rules, "; ")) {
			t.Errorf("the list lacks %s or its rules", c.ID)
		}
	}
	if !strings.Contains(out, "suite "+s.Version()) {
		t.Errorf("the list does not name the suite version:\n%s", out)
	}
}

// TestCoverageOfProtocolDivergences checks that every rule of protocol.md
// §8 is cited by a case or marked untestable with a reason, and that no
// case cites a numbered §8 rule the catalogue lacks.
func TestCoverageOfProtocolDivergences(t *testing.T) {
	s, err := conformance.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	rules := conformance.Rules()
	seen := map[string]bool{}
	for _, r := range rules {
		if seen[r.Rule] || strings.TrimSpace(r.Title) == "" {
			t.Errorf("rule %q: duplicate or without a title", r.Rule)
		}
		seen[r.Rule] = true
	}
	// 34 numbered divergences and 7 suggested assertions.
	if len(rules) != 41 {
		t.Errorf("%d rules in the catalogue, want 41", len(rules))
	}
	cov := conformance.CoverageOf(s)
	if u := cov.Uncovered(); len(u) > 0 {
		t.Errorf("rules neither covered nor marked untestable: %q", u)
	}
	for _, c := range s.Cases {
		for _, cit := range c.Rules {
			if !strings.HasPrefix(cit, "protocol.md §8") || strings.Contains(cit, "further observations") {
				continue
			}
			if !slices.ContainsFunc(rules, func(r conformance.Rule) bool { return conformance.Cites(cit, r.Rule) }) {
				t.Errorf("case %s cites %q, which is no rule of the catalogue", c.ID, cit)
			}
		}
	}
}

func TestCites(t *testing.T) {
	for _, tc := range []struct {
		citation, rule string
		want           bool
	}{
		{"protocol.md §8.9", "protocol.md §8.9", true},
		{"protocol.md §8.9 GENKIT_RUNTIME_ID", "protocol.md §8.9", true},
		{"protocol.md §8.10", "protocol.md §8.1", false},
		{"protocol.md §8.1.2", "protocol.md §8.1", false},
		{"protocol.md §8 suggested assertion 1", "protocol.md §8 suggested assertion 1", true},
		{"protocol.md §1.2", "protocol.md §8.9", false},
	} {
		if got := conformance.Cites(tc.citation, tc.rule); got != tc.want {
			t.Errorf("Cites(%q, %q) = %v, want %v", tc.citation, tc.rule, got, tc.want)
		}
	}
}

// TestConformanceMarkdownCurrent checks that CONFORMANCE.md shows the
// coverage map of the built-in cases (./conformance.sh rewrites it).
func TestConformanceMarkdownCurrent(t *testing.T) {
	data, err := os.ReadFile("../CONFORMANCE.md")
	if err != nil {
		t.Fatal(err)
	}
	i := bytes.Index(data, []byte(conformance.CoverageBegin))
	j := bytes.Index(data, []byte(conformance.CoverageEnd))
	if i < 0 || j < i {
		t.Fatal("CONFORMANCE.md has no coverage section")
	}
	s, err := conformance.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	var want bytes.Buffer
	if err := conformance.CoverageOf(s).WriteMarkdown(&want); err != nil {
		t.Fatal(err)
	}
	got := data[i+len(conformance.CoverageBegin)+1 : j]
	if diff := cmp.Diff(want.String(), string(got)); diff != "" {
		t.Errorf("CONFORMANCE.md's coverage section is stale; run genkit-runtime conformance coverage --update CONFORMANCE.md (-want +got):\n%s", diff)
	}
}

func TestReportJSONKeepsSuiteVersion(t *testing.T) {
	var b bytes.Buffer
	if err := sampleReport().WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	var r conformance.Report
	if err := json.Unmarshal(b.Bytes(), &r); err != nil {
		t.Fatal(err)
	}
	if r.SuiteVersion != "0123456789ab" {
		t.Errorf("suiteVersion %q after a round trip", r.SuiteVersion)
	}
}
