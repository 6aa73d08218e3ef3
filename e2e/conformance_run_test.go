package e2e

import (
	"context"
	"encoding/json"
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
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Minute)
	defer cancel()
	report := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.CommandContext(ctx, binary, append([]string{"conformance", "--json", report}, args...)...)
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

// TestConformanceOwnRuntime runs the whole suite against genkit-runtime
// over v1 and v2: every case must pass.
func TestConformanceOwnRuntime(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
	}{
		{"v1", []string{"--cmd", binary}},
		{"v2", []string{"--v2", "--cmd", binary}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, out, r := runConformance(t, tc.args...)
			if code != 0 || !strings.Contains(out, " 0 failed") {
				t.Errorf("conformance %s: exit %d\n%s", tc.name, code, out)
			}
			// Every message it sent is valid against spec/.
			sc, _ := r["schema"].(map[string]any)
			if n, _ := sc["messages"].(float64); n == 0 || sc["invalid"] != float64(0) {
				t.Errorf("conformance %s: schemas %v", tc.name, sc)
			}
		})
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
