// Package clitest drives the pinned Genkit CLI (genkit-cli, installed with npm
// under e2e/node) from Go end-to-end tests, without a terminal.
//
// A test creates a hermetic project with [NewProject], runs one-shot commands
// with [Project.Run] and keeps a runtime under "genkit start" with
// [Project.Start]. The returned [Session] knows the telemetry server and the
// Developer UI (tools API) addresses the CLI printed, can wait for the
// runtime's discovery file, and talks to the tools API the way the Dev UI
// does. Every process is started in its own process group and stopped in
// t.Cleanup.
//
// The package is for tests only: it reads the process environment and the
// /proc file system, and reports setup failures through testing.TB.
package clitest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
)

// nodeDir is the folder, relative to the module root, that holds the npm
// project pinning genkit-cli.
const nodeDir = "e2e/node"

// configTimeout bounds the one-time "genkit config set" of a new project.
const configTimeout = 60 * time.Second

// NodeModules returns the absolute path of e2e/node/node_modules, found by
// walking up from the working directory to the directory holding go.mod.
// It skips the test when the folder, the genkit binary in it, or node is
// missing; CI installs them with "npm ci" in e2e/node.
func NodeModules(t testing.TB) string {
	t.Helper()
	root, err := runtimeproc.ModuleRoot()
	if err != nil {
		t.Skipf("clitest: cannot locate the module root: %v", err)
	}
	nm := filepath.Join(root, filepath.FromSlash(nodeDir), "node_modules")
	if _, err := os.Stat(filepath.Join(nm, ".bin", "genkit")); err != nil {
		t.Skipf("clitest: genkit CLI not installed (%v); run `npm ci` in %s", err, filepath.Join(root, filepath.FromSlash(nodeDir)))
	}
	if _, err := exec.LookPath("node"); err != nil {
		t.Skipf("clitest: node not found on PATH: %v", err)
	}
	return nm
}

// Project is a scratch Genkit project folder with its own CLI configuration.
// Its methods may be called from several goroutines.
type Project struct {
	dir     string   // project root; holds go.mod
	scratch string   // private folder for command output files
	genkit  string   // path of node_modules/.bin/genkit
	env     []string // environment of every command; never mutated after NewProject
}

// NewProject creates a fresh project in a temporary directory removed at the
// end of the test. The directory holds a go.mod marker, so that the CLI's
// project-root search and a Go runtime agree on the root, and a private
// XDG_CONFIG_HOME (dir/.config) in which "genkit config set analyticsOptOut
// true" has already been run. Commands run with
// GENKIT_CLI_DISABLE_UPDATE_NOTIFICATIONS=true and NO_COLOR=1, and without
// any GENKIT_* variable inherited from the test process.
func NewProject(t testing.TB) *Project {
	t.Helper()
	nm := NodeModules(t)
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/genkitproject\n\ngo 1.26\n"), 0o644); err != nil {
		t.Fatalf("clitest: %v", err)
	}
	xdg := filepath.Join(dir, ".config")
	if err := os.MkdirAll(xdg, 0o755); err != nil {
		t.Fatalf("clitest: %v", err)
	}
	p := &Project{
		dir:     dir,
		scratch: t.TempDir(),
		genkit:  filepath.Join(nm, ".bin", "genkit"),
		env:     childEnv(os.Environ(), xdg),
	}
	ctx, cancel := context.WithTimeout(t.Context(), configTimeout)
	defer cancel()
	out, err := p.Run(ctx, "config", "set", "analyticsOptOut", "true")
	if err != nil {
		t.Fatalf("clitest: genkit config set analyticsOptOut: %v\n%s", err, out)
	}
	if !strings.Contains(out, `Set "analyticsOptOut" to "true"`) {
		t.Fatalf("clitest: unexpected output of genkit config set analyticsOptOut:\n%s", out)
	}
	return p
}

// childEnv derives the command environment from parent: it drops GENKIT_*,
// XDG_CONFIG_HOME and colour switches, then pins the configuration home and
// turns off the update check and colours.
func childEnv(parent []string, xdg string) []string {
	env := make([]string, 0, len(parent)+3)
	for _, kv := range parent {
		name, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(name, "GENKIT_") || name == "XDG_CONFIG_HOME" || name == "FORCE_COLOR" || name == "NO_COLOR" {
			continue
		}
		env = append(env, kv)
	}
	return append(env,
		"XDG_CONFIG_HOME="+xdg,
		"GENKIT_CLI_DISABLE_UPDATE_NOTIFICATIONS=true",
		"NO_COLOR=1",
	)
}

// Dir returns the project root directory.
func (p *Project) Dir() string { return p.dir }

// Env returns a copy of the environment the project's commands run with.
func (p *Project) Env() []string { return append([]string(nil), p.env...) }

// Run runs "genkit args..." in the project directory with stdin at
// /dev/null and returns its standard output. The CLI logs on standard output,
// and many commands (flow:run, eval:flow) exit 0 even when they fail, so
// callers should check the output. A non-zero exit or an expired ctx gives an
// error that carries the standard error text. Processes the command leaves
// behind in its process group are killed before Run returns.
func (p *Project) Run(ctx context.Context, args ...string) (string, error) {
	return p.RunEnv(ctx, nil, args...)
}

// RunEnv is like [Project.Run] with extra KEY=VALUE entries appended to the
// environment.
func (p *Project) RunEnv(ctx context.Context, env []string, args ...string) (string, error) {
	stdout, err := os.CreateTemp(p.scratch, "stdout-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(stdout.Name())
	defer stdout.Close()
	stderr, err := os.CreateTemp(p.scratch, "stderr-*")
	if err != nil {
		return "", err
	}
	defer os.Remove(stderr.Name())
	defer stderr.Close()

	cmd := exec.CommandContext(ctx, p.genkit, args...)
	cmd.Dir = p.dir
	cmd.Env = append(p.Env(), env...)
	cmd.Stdout = stdout // files, not pipes: a lingering grandchild cannot block Wait
	cmd.Stderr = stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// The group is ours and its leader is not yet reaped, so its id is still taken.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	runErr := cmd.Run()
	if cmd.Process != nil {
		if err := killGroup(cmd.Process.Pid); err != nil {
			runErr = errors.Join(runErr, fmt.Errorf("killing leftover processes: %w", err))
		}
	}

	out, err := os.ReadFile(stdout.Name())
	if err != nil {
		return "", err
	}
	if runErr != nil {
		errText, _ := os.ReadFile(stderr.Name())
		if ctxErr := ctx.Err(); ctxErr != nil {
			runErr = fmt.Errorf("%w (%w)", runErr, ctxErr)
		}
		return string(out), fmt.Errorf("genkit %s: %w\nstderr:\n%s", strings.Join(args, " "), runErr, errText)
	}
	return string(out), nil
}
