package e2e

import (
	"context"
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// runConformance runs "genkit-runtime conformance" with args and returns
// its exit code, output and JSON report.
func runConformance(t *testing.T, args ...string) (int, string, map[string]any) {
	t.Helper()
	return runConformanceIn(t, binary, "", args...)
}

// runConformanceIn runs "bin conformance" with args in the folder dir
// (the test's own when empty) and returns its exit code, output and JSON
// report.
func runConformanceIn(t *testing.T, bin, dir string, args ...string) (int, string, map[string]any) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	report := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.CommandContext(ctx, bin, append([]string{"conformance", "--json", report}, args...)...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	code := 0
	if err != nil {
		ee, ok := err.(*exec.ExitError)
		if !ok {
			t.Fatalf("conformance %v: %v\n%s", args, err, out)
		}
		code = ee.ExitCode()
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("conformance %v wrote no report: %v\n%s", args, err, out)
	}
	var r map[string]any
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("report: %v", err)
	}
	return code, string(out), r
}

// TestConformanceOwnRuntime copies the binary alone into an empty folder
// outside the repository and runs the whole built-in suite from there
// against that binary, over v1 and v2: every case must pass, and the JUnit
// report must hold one test case per case.
func TestConformanceOwnRuntime(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "genkit-runtime")
	copyFile(t, binary, bin)
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"v1", []string{"--cmd", bin}},
		{"v2", []string{"--v2", "--cmd", bin}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			junit := filepath.Join(t.TempDir(), "junit.xml")
			code, out, rep := runConformanceIn(t, bin, dir, append([]string{"--junit", junit}, tc.args...)...)
			if code != 0 || !strings.Contains(out, " 0 failed") || strings.Contains(out, "unsupported, of 0 cases") {
				t.Errorf("conformance %s: exit %d\n%s", tc.name, code, out)
			}
			cases, _ := rep["cases"].([]any)
			sum, _ := rep["summary"].(map[string]any)
			if len(cases) == 0 || sum["pass"] != float64(len(cases)) {
				t.Errorf("conformance %s: %d cases, summary %v: want every case passed", tc.name, len(cases), sum)
			}
			if v, _ := rep["suiteVersion"].(string); len(v) != 12 {
				t.Errorf("report's suiteVersion %q", v)
			}
			checkJUnit(t, junit, cases)
			// Every message it sent is valid against spec/.
			sc, _ := rep["schema"].(map[string]any)
			if n, _ := sc["messages"].(float64); n == 0 || sc["invalid"] != float64(0) {
				t.Errorf("conformance %s: schemas %v", tc.name, sc)
			}
		})
	}
}

// copyFile copies the file src to dst, executable.
func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	data, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, data, 0o755); err != nil {
		t.Fatal(err)
	}
}

// checkJUnit checks that the JUnit file parses as JUnit XML with one test
// case per case of the JSON report, failed where the case failed.
func checkJUnit(t *testing.T, path string, cases []any) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		XMLName xml.Name `xml:"testsuites"`
		Tests   int      `xml:"tests,attr"`
		Suites  []struct {
			Tests int `xml:"tests,attr"`
			Cases []struct {
				Name    string    `xml:"name,attr"`
				Failure *struct{} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(data, &doc); err != nil {
		t.Fatalf("JUnit report: %v", err)
	}
	if len(doc.Suites) != 1 || len(doc.Suites[0].Cases) != len(cases) || doc.Tests != len(cases) || doc.Suites[0].Tests != len(cases) {
		t.Fatalf("JUnit report: %d suites, tests=%d; want 1 suite with a test case for each of %d cases", len(doc.Suites), doc.Tests, len(cases))
	}
	for i, c := range cases {
		m, _ := c.(map[string]any)
		jc := doc.Suites[0].Cases[i]
		if jc.Name != m["id"] || (jc.Failure != nil) != (m["outcome"] == "fail") {
			t.Errorf("JUnit test case %d: %s (failed %v); report: %v (%v)", i, jc.Name, jc.Failure != nil, m["id"], m["outcome"])
		}
	}
}

// TestConformanceBaseline runs two cases against the binary, one that
// passes and one that fails (it asks a health check for a teapot), with a
// baseline listing the passing one and not the failing one: the run fails
// and names both.
func TestConformanceBaseline(t *testing.T) {
	cases, other := t.TempDir(), t.TempDir()
	write := func(name, content string) string {
		t.Helper()
		p := filepath.Join(cases, name)
		if !strings.HasPrefix(name, "v1/") {
			p = filepath.Join(other, name)
		}
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	health := `{"title": "health", "rules": ["protocol.md §1.2"], "transport": "v1",
		"steps": [{"http": {"method": "GET", "path": "/api/__health"}, "expect": {"status": %d}}]}`
	write("v1/passes.json", fmt.Sprintf(health, 200))
	write("v1/fails.json", fmt.Sprintf(health, 418))
	baseline := write("baseline.txt", "# expected to fail\nv1/passes\n")

	code, out, _ := runConformance(t, "--cases", cases, "--expected-failures", baseline, "--cmd", binary)
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	for _, want := range []string{"new failure: v1/fails", "v1/passes now passes"} {
		if !strings.Contains(out, want) {
			t.Errorf("the output does not say %q:\n%s", want, out)
		}
	}

	// The baseline that names exactly the failure passes.
	exact := write("exact.txt", "v1/fails\n")
	if code, out, _ := runConformance(t, "--cases", cases, "--expected-failures", exact, "--cmd", binary); code != 0 {
		t.Errorf("with the exact baseline: exit %d, want 0\n%s", code, out)
	}
}

// TestConformanceSDKFixtures runs the suite against the JS, Go and Python
// SDK fixtures when they are installed (test.sh installs them). Their
// failures are expected divergences: the run must complete and report every
// case.
func TestConformanceSDKFixtures(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("fixtures"))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name, dir, need string
		args            []string
	}{
		{"js-v1", "js", "node_modules", []string{"--cmd", "node index.js"}},
		{"js-v2", "js", "node_modules", []string{"--v2", "--cmd", "node index.js"}},
		{"gosdk-v1", "gosdk", "gosdk-fixture", []string{"--cmd", "./gosdk-fixture"}},
		{"gosdk-v2", "gosdk", "gosdk-fixture", []string{"--v2", "--cmd", "./gosdk-fixture"}},
		{"python-v1", "python", ".venv/bin/python", []string{"--cmd", ".venv/bin/python main.py"}},
		{"python-v2", "python", ".venv/bin/python", []string{"--v2", "--cmd", ".venv/bin/python main.py"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := filepath.Join(root, tc.dir)
			if _, err := os.Stat(filepath.Join(dir, tc.need)); err != nil {
				t.Skipf("fixture not installed (run ./test.sh): %v", err)
			}
			_, out, r := runConformance(t, append([]string{"--dir", dir}, tc.args...)...)
			sum, _ := r["summary"].(map[string]any)
			if sum == nil {
				t.Fatalf("report has no summary:\n%s", out)
			}
			cases, _ := r["cases"].([]any)
			total := 0
			for _, k := range []string{"pass", "fail", "unsupported"} {
				n, _ := sum[k].(float64)
				total += int(n)
			}
			if len(cases) == 0 || total != len(cases) {
				t.Errorf("%s: summary %v accounts for %d of %d cases:\n%s", tc.name, sum, total, len(cases), out)
			}
			t.Logf("%s: %v", tc.name, sum)
		})
	}
}
