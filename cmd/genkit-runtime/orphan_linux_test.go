package main

import (
	"bufio"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/genkit-runtime/genkit-runtime/internal/runtimeproc"
)

// orphan starts the binary through a shell that runs it in the background
// and waits, as `go run` does, then kills the shell with SIGKILL. The test
// process is made a child subreaper first, so the orphaned runtime becomes
// its child and its exit status can be read. It returns the runtime's pid
// and its runtime file.
func orphan(t *testing.T, args ...string) (pid int, rfPath string) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Skipf("cannot become a child subreaper: %v", err)
	}
	root := t.TempDir()
	if err := os.WriteFile(filepath.Join(root, "package.json"), []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	port, err := runtimeproc.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	shArgs := append([]string{"-c", `"$0" "$@" 2>/dev/null & echo $!; wait`, testBinary(t), "--port", strconv.Itoa(port)}, args...)
	sh := exec.Command("sh", shArgs...)
	sh.Dir = root
	sh.Env = runtimeproc.CleanEnv()
	out, err := sh.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := sh.Start(); err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		sh.Process.Kill()
		sh.Wait()
		t.Fatal(err)
	}
	pid, err = strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if syscall.Kill(pid, 0) == nil {
			syscall.Kill(pid, syscall.SIGKILL)
			waitPID(pid, 5*time.Second)
		}
	})
	// Ready: its runtime file is there and it answers.
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(20 * time.Second)
	for {
		files, _ := filepath.Glob(filepath.Join(root, ".genkit", "runtimes", "*.json"))
		if len(files) == 1 {
			if resp, err := http.Get(url + "/api/__health"); err == nil {
				resp.Body.Close()
				rfPath = files[0]
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatal("the runtime did not get ready")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := sh.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	sh.Wait()
	return pid, rfPath
}

// waitPID reaps the child pid, waiting at most timeout, and returns its
// exit status.
func waitPID(pid int, timeout time.Duration) (int, error) {
	type result struct {
		ws  syscall.WaitStatus
		err error
	}
	done := make(chan result, 1)
	go func() {
		var ws syscall.WaitStatus
		_, err := syscall.Wait4(pid, &ws, 0, nil)
		done <- result{ws, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			return 0, r.err
		}
		if r.ws.Signaled() {
			return 0, fmt.Errorf("killed by %v", r.ws.Signal())
		}
		return r.ws.ExitStatus(), nil
	case <-time.After(timeout):
		syscall.Kill(pid, syscall.SIGKILL)
		<-done
		return 0, fmt.Errorf("no exit within %v", timeout)
	}
}

// TestOrphanedRuntimeStops: when the process that started the runtime is
// killed, the runtime stops the graceful way within 2 s: exit status 0,
// runtime file removed.
func TestOrphanedRuntimeStops(t *testing.T) {
	pid, rf := orphan(t)
	code, err := waitPID(pid, 2*time.Second)
	if err != nil || code != 0 {
		t.Fatalf("orphaned runtime: exit %d, %v; want exit 0 within 2 s", code, err)
	}
	if _, err := os.Stat(rf); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("runtime file left by the orphaned runtime: %v", err)
	}
}

// TestKeepRunningWhenOrphaned: with --keep-running-when-orphaned the
// runtime outlives its parent.
func TestKeepRunningWhenOrphaned(t *testing.T) {
	pid, rf := orphan(t, "--keep-running-when-orphaned")
	time.Sleep(time.Second)
	if err := syscall.Kill(pid, 0); err != nil {
		t.Fatalf("the runtime stopped although asked to keep running: %v", err)
	}
	if _, err := os.Stat(rf); err != nil {
		t.Errorf("runtime file gone: %v", err)
	}
	syscall.Kill(pid, syscall.SIGTERM)
	if code, err := waitPID(pid, 10*time.Second); err != nil || code != 0 {
		t.Errorf("after SIGTERM: exit %d, %v", code, err)
	}
}
