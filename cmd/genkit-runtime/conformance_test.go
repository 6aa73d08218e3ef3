package main

import (
	"bytes"
	"encoding/xml"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/genkit-runtime/genkit-runtime/conformance"
)

// conformanceCmd runs "genkit-runtime conformance args..." in-process.
func conformanceCmd(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	code := run(t.Context(), append([]string{"conformance"}, args...), &stdout, &stderr, func(string) string { return "" })
	return code, stdout.String(), stderr.String()
}

func TestConformanceList(t *testing.T) {
	code, out, errOut := conformanceCmd(t, "list")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	suite, err := conformance.Embedded()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range suite.Cases {
		if !strings.Contains(out, c.ID+" ") {
			t.Errorf("list lacks %s", c.ID)
		}
	}
	if !strings.Contains(out, "suite "+suite.Version()) || !strings.Contains(out, "rules: protocol.md") {
		t.Errorf("list names no suite version or rules:\n%s", out)
	}
}

func TestConformanceCoverageCommand(t *testing.T) {
	code, out, errOut := conformanceCmd(t, "coverage")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, errOut)
	}
	if !strings.Contains(out, "rules covered") || !strings.Contains(out, "| §8.29 |") {
		t.Errorf("coverage output:\n%s", out)
	}
}

func TestConformanceUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{},                            // neither --url nor --cmd
		{"--url", "http://x", "--v2"}, // --v2 needs --cmd
		{"--cmd", "x", "--cases", "/nonexistent"}, // unreadable cases
		{"--cmd", "x", "--expected-failures", "/nonexistent"},
		{"--cmd", "x", "--run", "no-such-case"},
		{"list", "extra"},
		{"merge"},
	} {
		if code, _, _ := conformanceCmd(t, args...); code != exitCantRun {
			t.Errorf("conformance %q: exit %d, want %d", args, code, exitCantRun)
		}
	}
}

func TestConformanceMergeReports(t *testing.T) {
	dir := t.TempDir()
	rep := &conformance.Report{Target: "rt", Transport: conformance.V1, SuiteVersion: "abcdefabcdef", Started: time.Now(),
		Summary: conformance.Summary{Pass: 1, Fail: 1},
		Cases: []conformance.CaseResult{
			{ID: "run/a", Title: "a", Rules: []string{"r"}, Outcome: conformance.Pass},
			{ID: "run/b", Title: "b", Rules: []string{"r"}, Outcome: conformance.Fail,
				Steps: []conformance.StepResult{{Step: "step 1 (run)", Error: "boom"}}},
		}}
	in := filepath.Join(dir, "r.json")
	f, err := os.Create(in)
	if err != nil {
		t.Fatal(err)
	}
	if err := rep.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
	f.Close()
	junit, page, md := filepath.Join(dir, "j.xml"), filepath.Join(dir, "r.html"), filepath.Join(dir, "m.md")
	if code, _, errOut := conformanceCmd(t, "merge", "--junit", junit, "--html", page, "--out", md, in); code != 0 {
		t.Fatalf("merge: exit %d: %s", code, errOut)
	}
	data, err := os.ReadFile(junit)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Tests  int `xml:"tests,attr"`
		Suites []struct {
			Cases []struct {
				Name string `xml:"name,attr"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil || doc.Tests != 2 || len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != 2 {
		t.Errorf("JUnit: %v, %+v", err, doc)
	}
	for path, want := range map[string]string{page: `data-case="run/b"`, md: "| `run/b` b |"} {
		data, err := os.ReadFile(path)
		if err != nil || !strings.Contains(string(data), want) {
			t.Errorf("%s: %v; lacks %q", path, err, want)
		}
	}
}
