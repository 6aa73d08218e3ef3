package clitest

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// pinnedCLIVersion is the genkit-cli version e2e/node/package.json pins.
const pinnedCLIVersion = "1.43.0"

func TestNewProjectVersion(t *testing.T) {
	p := NewProject(t)

	for _, name := range []string{"go.mod", filepath.Join(".config", "configstore", "@genkit-ai", "tools-common.json")} {
		if _, err := os.Stat(filepath.Join(p.Dir(), name)); err != nil {
			t.Errorf("project file: %v", err)
		}
	}
	env := p.Env()
	for _, want := range []string{
		"XDG_CONFIG_HOME=" + filepath.Join(p.Dir(), ".config"),
		"GENKIT_CLI_DISABLE_UPDATE_NOTIFICATIONS=true",
	} {
		if !contains(env, want) {
			t.Errorf("Env() lacks %q", want)
		}
	}

	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	out, err := p.Run(ctx, "--version")
	if err != nil {
		t.Fatalf("genkit --version: %v", err)
	}
	if got := strings.TrimSpace(out); got != pinnedCLIVersion {
		t.Errorf("genkit --version = %q, want %q", got, pinnedCLIVersion)
	}
}

func TestRunFailure(t *testing.T) {
	p := NewProject(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	// Commander rejects an unknown option with exit status 1. (An unknown
	// command prints help and exits 0.)
	_, err := p.Run(ctx, "flow:run", "--bogus-flag")
	var exitErr *exec.ExitError
	if !errors.As(err, &exitErr) {
		t.Fatalf("genkit flow:run --bogus-flag: err = %v, want an *exec.ExitError", err)
	}
}

func TestRunContextCanceled(t *testing.T) {
	p := NewProject(t)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := p.Run(ctx, "--version"); err == nil {
		t.Fatal("Run with a canceled context succeeded")
	}
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

var parseLogLineCases = []struct {
	name     string
	line     string
	wantKind logURLKind
	wantURL  string
}{
	{"telemetry", "Telemetry API running on http://127.0.0.1:4033\n", kindTelemetry, "http://127.0.0.1:4033"},
	{"ui", "Genkit Developer UI: http://localhost:4000", kindUI, "http://localhost:4000"},
	{"ui colored", "\x1b[32m\x1b[1mGenkit Developer UI:\x1b[22m\x1b[39m http://localhost:4001\n", kindUI, "http://localhost:4001"},
	{"v2", "Starting reflection server: ws://localhost:3200", kindV2, "ws://localhost:3200"},
	{"project root", "Project root: /tmp/x", kindNone, ""},
	{"runtime line", "2026/11/23 fakert ready", kindNone, ""},
	{"no port", "Telemetry API running on http://127.0.0.1", kindNone, ""},
	{"wrong scheme", "Genkit Developer UI: ws://localhost:4000", kindNone, ""},
	{"empty", "", kindNone, ""},
}

func TestParseLogLine(t *testing.T) {
	for _, tc := range parseLogLineCases {
		t.Run(tc.name, func(t *testing.T) {
			kind, u := parseLogLine(tc.line)
			if diff := cmp.Diff([]any{tc.wantKind, tc.wantURL}, []any{kind, u}); diff != "" {
				t.Errorf("parseLogLine(%q) mismatch (-want +got):\n%s", tc.line, diff)
			}
		})
	}
}

func FuzzParseLogLine(f *testing.F) {
	for _, tc := range parseLogLineCases {
		f.Add(tc.line)
	}
	f.Fuzz(func(t *testing.T, line string) {
		kind, u := parseLogLine(line)
		if (kind == kindNone) != (u == "") {
			t.Fatalf("parseLogLine(%q) = (%v, %q): kind and address disagree", line, kind, u)
		}
		if kind != kindNone && !strings.Contains(stripANSI(line), u) {
			t.Fatalf("parseLogLine(%q) = %q, not part of the line", line, u)
		}
	})
}

func TestParseProcStat(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want procStat
		ok   bool
	}{
		{"plain", "4242 (node) S 4200 4242 4200 0 -1", procStat{pid: 4242, ppid: 4200, pgrp: 4242}, true},
		{"spaces and parens in name", "77 (a (b) c) R 1 77 77 0", procStat{pid: 77, ppid: 1, pgrp: 77}, true},
		{"truncated", "77 (x) R 1", procStat{}, false},
		{"garbage", "hello", procStat{}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := parseProcStat([]byte(tc.in))
			if ok != tc.ok {
				t.Fatalf("parseProcStat(%q) ok = %v, want %v", tc.in, ok, tc.ok)
			}
			if diff := cmp.Diff(tc.want, got, cmp.AllowUnexported(procStat{})); diff != "" {
				t.Errorf("parseProcStat(%q) mismatch (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestDescendants(t *testing.T) {
	// A shell with a child: descendants must see the grandchild through the shell.
	cmd := exec.Command("sh", "-c", "sleep 60 & wait")
	if err := cmd.Start(); err != nil {
		t.Skipf("no sh: %v", err)
	}
	t.Cleanup(func() {
		for _, pid := range descendants(cmd.Process.Pid) {
			if err := syscall.Kill(pid, syscall.SIGKILL); err != nil {
				t.Logf("kill %d: %v", pid, err)
			}
		}
		if err := cmd.Process.Kill(); err != nil {
			t.Logf("kill sh: %v", err)
		}
		if err := cmd.Wait(); err == nil {
			t.Log("sh exited cleanly despite SIGKILL")
		}
	})
	// Polling is unavoidable here: nothing signals that the shell has forked.
	deadline := time.Now().Add(10 * time.Second)
	for {
		if d := descendants(cmd.Process.Pid); len(d) == 1 {
			return
		} else if time.Now().After(deadline) {
			t.Fatalf("descendants(%d) = %v, want one process", cmd.Process.Pid, d)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
