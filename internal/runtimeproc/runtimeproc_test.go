package runtimeproc

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/genkit-runtime/genkit-runtime/runtimefile"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// TestGenkitRuntime builds the genkit-runtime binary with Build and starts
// it with StartRuntime.
func TestGenkitRuntime(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and starts the genkit-runtime binary")
	}
	bin, err := Build(t.Context(), t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Run("ready", func(t *testing.T) { testReady(t, bin) })
	t.Run("environment", func(t *testing.T) { testEnv(t, bin) })
	t.Run("exits at once", func(t *testing.T) { testExitsAtOnce(t, bin) })
}

// newProject returns a fresh project root holding a package.json.
func newProject(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "package.json"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return root
}

// start starts cmd with Start and kills it, if still running, when the test
// ends.
func start(t *testing.T, cmd *exec.Cmd) *Process {
	t.Helper()
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	return p
}

// waitExit waits up to 10 s for p to exit and returns its status.
func waitExit(t *testing.T, p *Process) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	code, err := p.Wait(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

// testReady starts the binary bin: once StartRuntime returns, the runtime file named is the runtime's own, in the project's
// runtimes directory, and reflects RuntimeConfig.Args; the runtime runs an
// action posted with RunRequest, streamed or not; and Stop ends it with
// status 0, its runtime file removed.
func testReady(t *testing.T, bin string) {
	root := newProject(t)
	p, rf, err := StartRuntime(t.Context(), RuntimeConfig{Binary: bin, Root: root, Args: []string{"--name", "under-test"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	if rf.Info.PID != p.PID() {
		t.Errorf("runtime file pid %d; want the process's %d", rf.Info.PID, p.PID())
	}
	if got, want := filepath.Dir(rf.Path), runtimefile.Dir(root); got != want {
		t.Errorf("runtime file in %s; want %s", got, want)
	}
	if rf.Info.Name != "under-test" {
		t.Errorf("runtime name %q; want the --name given in Args", rf.Info.Name)
	}
	if !strings.HasPrefix(rf.Info.ReflectionServerURL, "http://127.0.0.1:") {
		t.Errorf("reflection server URL %q; want one on 127.0.0.1", rf.Info.ReflectionServerURL)
	}

	tr := &http.Transport{Proxy: nil}
	defer tr.CloseIdleConnections()
	for _, tc := range []struct {
		stream     bool
		body, want string
	}{
		{false, `{"key":"/flow/echo","input":"hi"}`, `{"result":"hi",`},
		{true, `{"key":"/flow/count","input":{"count":2}}`, `{"index":0}` + "\n" + `{"index":1}` + "\n" + `{"result":{"count":2},`},
	} {
		req, err := RunRequest(t.Context(), rf.Info.ReflectionServerURL, tc.stream, tc.body)
		if err != nil {
			t.Fatal(err)
		}
		resp, err := (&http.Client{Transport: tr}).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != http.StatusOK || !strings.HasPrefix(string(body), tc.want) {
			t.Errorf("run %s (stream %v): HTTP %d %q; want 200 and %q...", tc.body, tc.stream, resp.StatusCode, body, tc.want)
		}
	}
	tr.CloseIdleConnections()

	if err := p.Stop(10 * time.Second); err != nil {
		t.Errorf("Stop: %v; want a clean exit on SIGTERM\noutput:\n%s", err, p.Output())
	}
	if code := waitExit(t, p); code != 0 {
		t.Errorf("exit status %d; want 0", code)
	}
	if _, err := os.Stat(rf.Path); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("runtime file still there after exit (stat: %v)", err)
	}
	if out := p.Output(); !strings.Contains(out, "runtime file written") {
		t.Errorf("captured output lacks the runtime's log:\n%s", out)
	}
}

// testEnv checks that the runtime bin gets the caller's
// environment without GENKIT_* and OTEL_*, plus RuntimeConfig.Env: a
// GENKIT_TELEMETRY_SERVER inherited from the caller would be used, the one
// in Env is, as the runtime's log says.
func testEnv(t *testing.T, bin string) {
	t.Setenv("GENKIT_TELEMETRY_SERVER", "http://127.0.0.1:1/inherited")
	p, _, err := StartRuntime(t.Context(), RuntimeConfig{
		Binary: bin, Root: newProject(t),
		Env: []string{"GENKIT_TELEMETRY_SERVER=http://127.0.0.1:1/configured"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Kill)
	if err := p.Stop(10 * time.Second); err != nil {
		t.Error(err)
	}
	out := p.Output()
	if strings.Contains(out, "/inherited") || !strings.Contains(out, "/configured") {
		t.Errorf("runtime log does not show only the configured telemetry server:\n%s", out)
	}
}

// testExitsAtOnce checks that a runtime that exits at once, here on
// an unknown flag, fails the start with its output, and is not retried as
// if its port had been taken.
func testExitsAtOnce(t *testing.T, bin string) {
	_, _, err := StartRuntime(t.Context(), RuntimeConfig{Binary: bin, Root: newProject(t), Args: []string{"--no-such-flag"}})
	if err == nil {
		t.Fatal("StartRuntime with an unknown flag succeeded")
	}
	for _, want := range []string{"exited before it was ready", "no-such-flag"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if errors.Is(err, errPortTaken) {
		t.Errorf("error %q counts as a taken port", err)
	}
}

// TestStartRuntimeRetries checks that StartRuntime starts a runtime again,
// three times in all, when it exits because its port was taken, and only
// then: "runtimes" that fail at once and count their starts.
func TestStartRuntimeRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failure  string
		attempts int
	}{
		{"port taken", "listen tcp 127.0.0.1:$2: bind: address already in use", 3},
		{"other failure", "flag provided but not defined: -x", 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			count := filepath.Join(dir, "count")
			script := filepath.Join(dir, "runtime")
			body := "#!/bin/sh\necho \"$*\" >> " + count + "\necho \"" + tc.failure + "\" >&2\nexit 1\n"
			if err := os.WriteFile(script, []byte(body), 0o755); err != nil {
				t.Fatal(err)
			}
			_, _, err := StartRuntime(t.Context(), RuntimeConfig{Binary: script, Root: newProject(t), Args: []string{"--name", "x"}})
			if err == nil {
				t.Fatal("StartRuntime of a failing runtime succeeded")
			}
			if got, want := errors.Is(err, errPortTaken), tc.attempts > 1; got != want {
				t.Errorf("error %q counts as a taken port: %v; want %v", err, got, want)
			}
			b, err := os.ReadFile(count)
			if err != nil {
				t.Fatal(err)
			}
			starts := strings.Split(strings.TrimSpace(string(b)), "\n")
			if len(starts) != tc.attempts {
				t.Errorf("started %d times; want %d", len(starts), tc.attempts)
			}
			// Each start had a port, then the caller's arguments.
			for _, args := range starts {
				if f := strings.Fields(args); len(f) != 4 || f[0] != "--port" || f[2] != "--name" || f[3] != "x" {
					t.Errorf("arguments %q; want --port <port> --name x", args)
				}
			}
		})
	}
}

// TestStartRuntimeTimeout checks that a start that does not get ready
// within ReadyTimeout fails and kills the process: a "runtime" that never
// writes a runtime file.
func TestStartRuntimeTimeout(t *testing.T) {
	script := filepath.Join(t.TempDir(), "never-ready")
	pidFile := filepath.Join(t.TempDir(), "pid")
	if err := os.WriteFile(script, []byte("#!/bin/sh\necho $$ > "+pidFile+"\nexec sleep 60\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, _, err := StartRuntime(t.Context(), RuntimeConfig{Binary: script, Root: newProject(t), ReadyTimeout: 200 * time.Millisecond})
	if err == nil || !strings.Contains(err.Error(), "no answer within 200ms") {
		t.Fatalf("StartRuntime of a process that never gets ready: %v; want a timeout", err)
	}
	b, err := os.ReadFile(pidFile)
	if err != nil {
		t.Fatal(err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil {
		t.Fatal(err)
	}
	// The process was reaped: its pid names no process of ours any more
	// (a zombie would still accept signal 0).
	if err := syscall.Kill(pid, 0); !errors.Is(err, syscall.ESRCH) {
		t.Errorf("signal 0 to pid %d: %v; want ESRCH, the process gone", pid, err)
	}
}

// TestAwaitReadyExit checks that AwaitReady fails as soon as the child
// exits, and when ctx is done.
func TestAwaitReadyExit(t *testing.T) {
	root := newProject(t)
	p := start(t, exec.Command("sh", "-c", "exit 2"))
	if _, err := p.AwaitReady(t.Context(), root); err == nil || !strings.Contains(err.Error(), "exited before it was ready: exit status 2") {
		t.Errorf("AwaitReady of an exited process: %v", err)
	}

	p = start(t, exec.Command("sleep", "60"))
	ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
	defer cancel()
	if _, err := p.AwaitReady(ctx, root); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("AwaitReady with an expiring ctx: %v; want DeadlineExceeded", err)
	}
	select {
	case <-p.Done():
		t.Error("AwaitReady ended the process")
	default:
	}
}

// TestCleanEnv runs env in a child with CleanEnv: inherited GENKIT_* and
// OTEL_* variables are gone, others stay, and the extra entries come last.
func TestCleanEnv(t *testing.T) {
	t.Setenv("GENKIT_ENV", "dev")
	t.Setenv("OTEL_SERVICE_NAME", "x")
	t.Setenv("RUNTIMEPROC_KEEP", "kept")
	cmd := exec.Command("env")
	cmd.Env = CleanEnv("GENKIT_EXTRA=1", "OTEL_EXTRA=2")
	p := start(t, cmd)
	if code := waitExit(t, p); code != 0 {
		t.Fatalf("env exited with %d", code)
	}
	lines := strings.Split(strings.TrimSpace(p.Output()), "\n")
	for _, l := range lines {
		if strings.HasPrefix(l, "GENKIT_ENV=") || strings.HasPrefix(l, "OTEL_SERVICE_NAME=") {
			t.Errorf("inherited %s reached the child", l)
		}
	}
	if !slices.Contains(lines, "RUNTIMEPROC_KEEP=kept") {
		t.Error("RUNTIMEPROC_KEEP did not reach the child")
	}
	if n := len(lines); n < 2 || lines[n-2] != "GENKIT_EXTRA=1" || lines[n-1] != "OTEL_EXTRA=2" {
		t.Errorf("the child's environment does not end with the extra entries: %q", lines[max(0, n-2):])
	}
}

// TestFreePort checks that the port returned can be listened on.
func TestFreePort(t *testing.T) {
	port, err := FreePort()
	if err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
	if err != nil {
		t.Fatalf("listening on the free port: %v", err)
	}
	l.Close()
}

// TestOutput checks that the standard output and standard error of a
// child, written at the same time, are both captured whole while the
// output is read, and that a writer the caller set is left alone.
func TestOutput(t *testing.T) {
	const n = 2000
	p := start(t, exec.Command("sh", "-c", fmt.Sprintf(
		"i=0; while [ $i -lt %d ]; do echo out; echo err >&2; i=$((i+1)); done", n)))
	for {
		_ = p.Output() // read while the child writes
		select {
		case <-p.Done():
		default:
			continue
		}
		break
	}
	if code := waitExit(t, p); code != 0 {
		t.Fatalf("exit status %d", code)
	}
	out := p.Output()
	if c := strings.Count(out, "out\n"); c != n {
		t.Errorf("%d lines of standard output captured; want %d", c, n)
	}
	if c := strings.Count(out, "err\n"); c != n {
		t.Errorf("%d lines of standard error captured; want %d", c, n)
	}

	var stdout strings.Builder
	cmd := exec.Command("sh", "-c", "echo to-caller; echo to-process >&2")
	cmd.Stdout = &stdout
	p = start(t, cmd)
	waitExit(t, p)
	if stdout.String() != "to-caller\n" || p.Output() != "to-process\n" {
		t.Errorf("caller's writer got %q, Output %q; want the standard output and the standard error", stdout.String(), p.Output())
	}
}

// TestWait checks exit statuses and a Wait that gives up.
func TestWait(t *testing.T) {
	for _, tc := range []struct {
		name   string
		script string
		want   int
	}{
		{"success", "exit 0", 0},
		{"failure", "exit 3", 3},
		{"killed by a signal", "kill -KILL $$", -1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := start(t, exec.Command("sh", "-c", tc.script))
			if got := waitExit(t, p); got != tc.want {
				t.Errorf("exit status %d; want %d", got, tc.want)
			}
			if err := p.ExitErr(); (err == nil) != (tc.want == 0) {
				t.Errorf("ExitErr = %v for status %d", err, tc.want)
			}
		})
	}

	t.Run("timeout", func(t *testing.T) {
		p := start(t, exec.Command("sleep", "60"))
		ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
		defer cancel()
		if _, err := p.Wait(ctx); !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("Wait on a running process: %v; want DeadlineExceeded", err)
		}
		if err := p.Signal(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		if got := waitExit(t, p); got != -1 {
			t.Errorf("exit status after SIGTERM %d; want -1", got)
		}
		if err := p.Signal(syscall.SIGTERM); !errors.Is(err, os.ErrProcessDone) {
			t.Errorf("Signal after exit: %v; want os.ErrProcessDone", err)
		}
	})
}

// TestKill checks that Kill ends a running child and returns once it has
// been reaped, and that a second Kill does nothing.
func TestKill(t *testing.T) {
	p := start(t, exec.Command("sleep", "60"))
	p.Kill()
	select {
	case <-p.Done():
	default:
		t.Fatal("Kill returned before the process was reaped")
	}
	p.Kill()
	if got := waitExit(t, p); got != -1 {
		t.Errorf("exit status %d; want -1", got)
	}
}

// TestStop checks the three ways Stop can go: a child that exits on
// SIGTERM, one that ignores it and is killed after the grace period, and
// one that had exited already.
func TestStop(t *testing.T) {
	t.Run("exits on SIGTERM", func(t *testing.T) {
		p := start(t, exec.Command("sh", "-c", sleepLoop("exit 0")))
		awaitOutput(t, p, "ready\n")
		if err := p.Stop(10 * time.Second); err != nil {
			t.Errorf("Stop: %v; want nil", err)
		}
	})
	t.Run("ignores SIGTERM", func(t *testing.T) {
		// An ignored signal stays ignored across exec.
		p := start(t, exec.Command("sh", "-c", `trap '' TERM; echo ready; exec sleep 60`))
		awaitOutput(t, p, "ready\n")
		err := p.Stop(100 * time.Millisecond)
		if err == nil || !strings.Contains(err.Error(), "did not exit within 100ms of SIGTERM; killed") {
			t.Errorf("Stop: %v; want the process killed", err)
		}
		if got := waitExit(t, p); got != -1 {
			t.Errorf("exit status %d; want -1", got)
		}
	})
	t.Run("already exited", func(t *testing.T) {
		p := start(t, exec.Command("sh", "-c", "exit 0"))
		waitExit(t, p)
		if err := p.Stop(time.Second); err == nil || !strings.Contains(err.Error(), "had already exited") {
			t.Errorf("Stop: %v; want an error", err)
		}
	})
	t.Run("exits with a failure", func(t *testing.T) {
		p := start(t, exec.Command("sh", "-c", sleepLoop("exit 4")))
		awaitOutput(t, p, "ready\n")
		if err := p.Stop(10 * time.Second); err == nil || !strings.Contains(err.Error(), "exit status 4") {
			t.Errorf("Stop: %v; want exit status 4", err)
		}
	})
}

// sleepLoop is a shell script that runs onTerm on SIGTERM, after writing
// "ready" once the trap is set. The shell runs a trap between commands, so
// it sleeps in short steps; the last sleep ends within 10 ms.
func sleepLoop(onTerm string) string {
	return "trap '" + onTerm + "' TERM; echo ready; while :; do sleep 0.01; done"
}

// awaitOutput waits until p's output is want, so that a shell has set its
// traps before a test signals it.
func awaitOutput(t *testing.T, p *Process, want string) {
	t.Helper()
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	timeout := time.After(10 * time.Second)
	for p.Output() != want {
		select {
		case <-tick.C:
		case <-p.Done():
			t.Fatalf("process exited (%v) before writing %q", p.ExitErr(), want)
		case <-timeout:
			t.Fatalf("process wrote %q, not %q, within 10 s", p.Output(), want)
		}
	}
}
